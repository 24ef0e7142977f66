/**
 * Where the SBC reaches a terminal: the Contacts it registered (as the
 * softswitch will put them in a Request-URI) mapped to its IDc, and per IDc
 * the flow of its latest message — the UDP address and port it sent from
 * (rport), or its TCP / TLS / TLS-PSK connection. A request from the core is
 * delivered on that flow whatever host the Contact names, so a terminal
 * behind NAT, or one bound to its TLS-PSK connection, is reached.
 *
 * In a pool on Redis (`share`), each registration's Contacts and flow are also
 * written there (at registration only, never per message), and a Contact this
 * instance does not know is read there: a terminal registered through an
 * instance that died is reached through this one over UDP (docs/scale-out.md,
 * "Losing an SBC instance"). A connection-bound flow (TCP, TLS, TLS-PSK) is not.
 */
import { isSipUri, type MessageSource, type SipConnection, type SipTransport, type Uri } from '../sip/index.js';
import { ownString } from '../sip/own-string.js';
import type { SharedContact } from '../store/redis/sbc-contacts.js';

export interface TerminalFlow {
  transport: SipTransport;
  address: string;
  port: number;
  connection?: SipConnection;
  pskIdentity?: string;
}

/**
 * One Contact, also a link in its IDc's list (`prev`/`next`): de-registration and the sweep
 * reach an IDc's Contacts without scanning every terminal's (a de-REGISTER loop would otherwise
 * cost O(terminals) each), and two fields per Contact cost less than a Set per IDc.
 */
class ContactEntry {
  prev: ContactEntry | undefined = undefined;
  next: ContactEntry | undefined = undefined;
  constructor(
    readonly key: string,
    public owner: Terminal,
    public expiresAt: number,
    /** Registered by KS1 (reached under its session), else a Digest phone. */
    public ks1: boolean,
  ) {}
}

/**
 * What the map keeps per IDc: its latest flow and the head of its Contacts' list, under one
 * copy of the IDc string (the map's key, shared by its entries) — one record rather than a
 * flow map and an index map, each with its own key.
 */
class Terminal {
  flow: TerminalFlow | undefined = undefined;
  head: ContactEntry | undefined = undefined;
  constructor(readonly idc: string) {}
}

/** The shared store of a pool (src/store/redis/sbc-contacts.ts), as this map uses it. */
export interface SharedContacts {
  put(contacts: readonly string[], c: SharedContact): Promise<void>;
  remove(contacts: readonly string[]): Promise<void>;
  get(contact: string, now: number): Promise<SharedContact | undefined>;
}

/** A Contact found in the shared store: its IDc, and whether it registered by KS1 (a session key is then needed to reach it). */
export interface LoadedContact {
  idc: string;
  ks1: boolean;
}

/** `user@host:port` with the host lower-cased: how a Contact and a Request-URI are matched. */
export function contactKey(u: Uri): string | undefined {
  if (!isSipUri(u)) return undefined;
  return `${u.user ?? ''}@${u.host.toLowerCase()}${u.port !== undefined ? ':' + u.port : ''}`;
}

export class ContactMap {
  readonly #contacts = new Map<string, ContactEntry>();
  readonly #terminals = new Map<string, Terminal>();
  #shared: { store: SharedContacts; transport: (protocol: SipTransport['protocol']) => SipTransport | undefined } | undefined;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 1_000_000,
  ) {}

  /**
   * Shares the Contacts through a pool's store; `transport` gives this instance's untrusted
   * transport of a protocol (a UDP flow registered elsewhere is reached from ours).
   */
  share(store: SharedContacts, transport: (protocol: SipTransport['protocol']) => SipTransport | undefined): void {
    this.#shared = { store, transport };
  }

  get shared(): boolean {
    return this.#shared !== undefined;
  }

  /**
   * A registration accepted (or refreshed, or ended: `expiresAt` past) with these Contacts from
   * this source: written to the shared store (undefined: none). Once per registration.
   */
  persist(idc: string, contacts: readonly Uri[], expiresAt: number, src: MessageSource, ks1: boolean): Promise<void> | undefined {
    const sh = this.#shared;
    if (!sh) return undefined;
    const keys: string[] = [];
    for (const c of contacts) {
      const k = contactKey(c);
      if (k !== undefined) keys.push(k);
    }
    if (expiresAt <= this.now()) return sh.store.remove(keys);
    return sh.store.put(keys, { idc, ks1, protocol: src.transport.protocol, address: src.address, port: src.port, expiresAt });
  }

  /**
   * A Contact this instance does not know, read from the shared store (undefined: no store).
   * Found, it is bound here, with its flow when that flow can be used from here (UDP).
   */
  async load(uri: Uri): Promise<LoadedContact | undefined> {
    const sh = this.#shared;
    const k = contactKey(uri);
    if (!sh || k === undefined) return undefined;
    const c = await sh.store.get(k, this.now());
    if (!c) return undefined;
    this.bind(c.idc, uri, c.expiresAt, c.ks1);
    const t = c.protocol === 'udp' ? sh.transport('udp') : undefined;
    if (t && !this.#terminals.get(c.idc)?.flow) this.seen(c.idc, { transport: t, protocol: 'udp', address: c.address, port: c.port });
    return { idc: c.idc, ks1: c.ks1 };
  }

  /** A Contact registered (or refreshed) by `idc` until `expiresAt`; 0 or less removes it. */
  bind(idc: string, contact: Uri, expiresAt: number, ks1 = false): void {
    const k = contactKey(contact);
    if (k === undefined) return;
    const had = this.#contacts.get(k);
    if (expiresAt <= this.now()) {
      if (had) this.#remove(had);
      return;
    }
    if (had) {
      if (had.owner.idc !== idc) {
        const was = had.owner;
        this.#unlink(had);
        this.#forgetIfEmpty(was);
        had.owner = this.#terminal(idc);
        this.#link(had);
      }
      had.expiresAt = expiresAt;
      had.ks1 = ks1;
      return;
    }
    if (this.#contacts.size >= this.maxEntries) this.#remove(this.#contacts.values().next().value!);
    const e = new ContactEntry(ownString(k), this.#terminal(idc), expiresAt, ks1);
    this.#contacts.set(e.key, e);
    this.#link(e);
  }

  /** Forgets every Contact and the flow of an IDc (de-registration): its own Contacts only are visited. */
  unbindAll(idc: string): void {
    const t = this.#terminals.get(idc);
    if (t) this.#drop(t);
  }

  /** The latest flow of an IDc: called for every message it sends that passed its mechanism. */
  seen(idc: string, src: MessageSource): void {
    const t = this.#terminals.get(idc);
    const had = t?.flow;
    if (had && had.transport === src.transport && had.address === src.address && had.port === src.port && had.connection === src.connection) return;
    const f: TerminalFlow = { transport: src.transport, address: had?.address === src.address ? had.address : ownString(src.address), port: src.port };
    if (src.connection) f.connection = src.connection;
    if (src.pskIdentity !== undefined) f.pskIdentity = ownString(src.pskIdentity);
    (t ?? this.#terminal(idc)).flow = f;
  }

  /** The record of an IDc, made (with an own copy of the IDc, not a view on a message) if new; at the cap the oldest IDc is forgotten. */
  #terminal(idc: string): Terminal {
    let t = this.#terminals.get(idc);
    if (t) return t;
    if (this.#terminals.size >= this.maxEntries) this.#drop(this.#terminals.values().next().value!);
    t = new Terminal(ownString(idc));
    this.#terminals.set(t.idc, t);
    return t;
  }

  /** Forgets an IDc: its Contacts and its flow. */
  #drop(t: Terminal): void {
    for (let e = t.head; e; ) {
      const next = e.next;
      this.#contacts.delete(e.key);
      e.prev = e.next = undefined;
      e = next;
    }
    t.head = undefined;
    this.#terminals.delete(t.idc);
  }

  #forgetIfEmpty(t: Terminal): void {
    if (!t.head && !t.flow) this.#terminals.delete(t.idc);
  }

  #link(e: ContactEntry): void {
    const t = e.owner;
    e.prev = undefined;
    e.next = t.head;
    if (t.head) t.head.prev = e;
    t.head = e;
  }

  #unlink(e: ContactEntry): void {
    if (e.prev) e.prev.next = e.next;
    else e.owner.head = e.next;
    if (e.next) e.next.prev = e.prev;
    e.prev = e.next = undefined;
  }

  #remove(e: ContactEntry): void {
    this.#contacts.delete(e.key);
    this.#unlink(e);
    this.#forgetIfEmpty(e.owner);
  }

  /** The IDc registered at this Request-URI, if live. */
  lookup(uri: Uri): string | undefined {
    const k = contactKey(uri);
    if (k === undefined) return undefined;
    const e = this.#contacts.get(k);
    if (!e) return undefined;
    if (e.expiresAt <= this.now()) {
      this.#remove(e);
      return undefined;
    }
    return e.owner.idc;
  }

  /** Was the live Contact at this Request-URI registered by KS1 (false: a Digest phone, or none)? */
  registeredByKs1(uri: Uri): boolean {
    const k = contactKey(uri);
    return k !== undefined && this.#contacts.get(k)?.ks1 === true;
  }

  flow(idc: string): TerminalFlow | undefined {
    return this.#terminals.get(idc)?.flow;
  }

  sweep(): void {
    const t = this.now();
    for (const e of this.#contacts.values()) if (e.expiresAt <= t) this.#remove(e);
    for (const t of this.#terminals.values()) if (!t.head) this.#terminals.delete(t.idc);
  }

  get size(): number {
    return this.#contacts.size;
  }
}
