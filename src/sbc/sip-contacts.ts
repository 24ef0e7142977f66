/**
 * Where the SBC reaches a terminal: the Contacts it registered (as the
 * softswitch will put them in a Request-URI) mapped to its IDc, and per IDc
 * the flow of its latest message — the UDP address and port it sent from
 * (rport), or its TCP / TLS / TLS-PSK connection. A request from the core is
 * delivered on that flow whatever host the Contact names, so a terminal
 * behind NAT, or one bound to its TLS-PSK connection, is reached.
 */
import { isSipUri, type MessageSource, type SipConnection, type SipTransport, type Uri } from '../sip/index.js';
import { ownString } from '../sip/own-string.js';

export interface TerminalFlow {
  transport: SipTransport;
  address: string;
  port: number;
  connection?: SipConnection;
  pskIdentity?: string;
}

interface ContactEntry {
  idc: string;
  expiresAt: number;
}

/** `user@host:port` with the host lower-cased: how a Contact and a Request-URI are matched. */
export function contactKey(u: Uri): string | undefined {
  if (!isSipUri(u)) return undefined;
  return `${u.user ?? ''}@${u.host.toLowerCase()}${u.port !== undefined ? ':' + u.port : ''}`;
}

export class ContactMap {
  readonly #contacts = new Map<string, ContactEntry>();
  readonly #flows = new Map<string, TerminalFlow>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 1_000_000,
  ) {}

  /** A Contact registered (or refreshed) by `idc` until `expiresAt`; 0 or less removes it. */
  bind(idc: string, contact: Uri, expiresAt: number): void {
    const k = contactKey(contact);
    if (k === undefined) return;
    if (expiresAt <= this.now()) {
      this.#contacts.delete(k);
      return;
    }
    const had = this.#contacts.get(k);
    if (!had && this.#contacts.size >= this.maxEntries) this.#contacts.delete(this.#contacts.keys().next().value!);
    this.#contacts.set(had ? k : ownString(k), { idc: had?.idc === idc ? had.idc : ownString(idc), expiresAt });
  }

  /** Forgets every Contact and the flow of an IDc (de-registration). */
  unbindAll(idc: string): void {
    for (const [k, e] of this.#contacts) if (e.idc === idc) this.#contacts.delete(k);
    this.#flows.delete(idc);
  }

  /** The latest flow of an IDc: called for every message it sends that passed its mechanism. */
  seen(idc: string, src: MessageSource): void {
    const had = this.#flows.get(idc);
    if (had && had.transport === src.transport && had.address === src.address && had.port === src.port && had.connection === src.connection) return;
    if (!had && this.#flows.size >= this.maxEntries) this.#flows.delete(this.#flows.keys().next().value!);
    const f: TerminalFlow = { transport: src.transport, address: had?.address === src.address ? had.address : ownString(src.address), port: src.port };
    if (src.connection) f.connection = src.connection;
    if (src.pskIdentity !== undefined) f.pskIdentity = ownString(src.pskIdentity);
    this.#flows.set(had ? idc : ownString(idc), f);
  }

  /** The IDc registered at this Request-URI, if live. */
  lookup(uri: Uri): string | undefined {
    const k = contactKey(uri);
    if (k === undefined) return undefined;
    const e = this.#contacts.get(k);
    if (!e) return undefined;
    if (e.expiresAt <= this.now()) {
      this.#contacts.delete(k);
      return undefined;
    }
    return e.idc;
  }

  flow(idc: string): TerminalFlow | undefined {
    return this.#flows.get(idc);
  }

  sweep(): void {
    const t = this.now();
    const live = new Set<string>();
    for (const [k, e] of this.#contacts) {
      if (e.expiresAt <= t) this.#contacts.delete(k);
      else live.add(e.idc);
    }
    for (const idc of this.#flows.keys()) if (!live.has(idc)) this.#flows.delete(idc);
  }

  get size(): number {
    return this.#contacts.size;
  }
}
