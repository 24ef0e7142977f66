import type { SharedRedis } from './client.js';

/**
 * Where the SBC instances of a pool reach a terminal, shared through Redis
 * (docs/scale-out.md, "Losing an SBC instance"): per registered Contact, as
 * the core will put it in a Request-URI (`user@host:port`), the IDc and the
 * flow the registration came on.
 *
 *   sbc:ct:<IDsp>|<contact key>   string, PX = the binding's remaining lifetime
 *     "<IDc>\n<ks1|digest>\n<protocol>\n<address>\n<port>\n<expiresAt>"
 *
 * Written when a registration (or refresh) is accepted, never per message; read
 * by an instance that does not know the Contact (the core sends it a request
 * for a terminal registered through an instance that died). A UDP flow is
 * usable from any instance of the pool (it is an address and port); a TCP,
 * TLS or TLS-PSK flow is a connection of the instance that holds it, so the
 * protocol is kept only to say so.
 */
export interface SharedContact {
  idc: string;
  /** Registered by KS1 (a session key), or a Digest phone. */
  ks1: boolean;
  protocol: string;
  address: string;
  port: number;
  expiresAt: number;
}

export class RedisSbcContacts {
  readonly #r: SharedRedis;
  readonly #idsp: string;

  constructor(shared: SharedRedis, idsp: string) {
    this.#r = shared;
    this.#idsp = idsp;
  }

  #key(contact: string): string {
    return `sbc:ct:${this.#idsp}|${contact}`;
  }

  /** The Contacts of one registration (one MULTI); `expiresAt` in Unix ms. */
  async put(contacts: readonly string[], c: SharedContact): Promise<void> {
    if (contacts.length === 0) return;
    const ttl = Math.max(1, Math.ceil(c.expiresAt - Date.now()));
    const value = [c.idc, c.ks1 ? 'ks1' : 'digest', c.protocol, c.address, String(c.port), String(c.expiresAt)].join('\n');
    await this.#r.run((r) => {
      const m = r.multi();
      for (const k of contacts) m.set(this.#key(k), value, 'PX', ttl);
      return m.exec();
    });
  }

  /** A de-registration: these Contacts no longer lead to the terminal. */
  async remove(contacts: readonly string[]): Promise<void> {
    if (contacts.length === 0) return;
    await this.#r.run((r) => r.del(...contacts.map((k) => this.#key(k))));
  }

  /** The terminal registered at this Contact through any instance, if live. */
  async get(contact: string, now: number): Promise<SharedContact | undefined> {
    const v = await this.#r.run((r) => r.get(this.#key(contact)));
    if (!v) return undefined;
    const [idc, kind, protocol, address, port, expiresAt] = v.split('\n');
    const c: SharedContact = { idc: idc ?? '', ks1: kind === 'ks1', protocol: protocol ?? '', address: address ?? '', port: Number(port), expiresAt: Number(expiresAt) };
    if (!c.idc || !c.address || !(c.port > 0 && c.port < 65536) || !(c.expiresAt > now)) return undefined;
    return c;
  }
}
