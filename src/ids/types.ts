/**
 * The intrusion detection's neutral vocabulary (docs/ids.md). Adapters at the
 * SBC and the HTTP side map each protocol's message onto an `IdsEvent` and ask
 * for a verdict; they tell authentication outcomes and dialog violations they
 * see afterwards as an `IdsOutcome`. Nothing here knows a protocol's syntax.
 */

export type IdsProtocol = 'sip' | 'mgcp' | 'h248' | 'h323' | 'http';

/** Where a message came from: one flow (transport, address, port). */
export interface IdsSource {
  protocol: IdsProtocol;
  /** udp, tcp, tls … (informative). */
  transport: string;
  address: string;
  port: number;
}

/** One inbound message, as much as the adapter could read of it. */
export interface IdsEvent extends IdsSource {
  /** SIP method, MGCP verb, H.248 command, RAS message, HTTP method. Upper case. */
  method: string;
  /** The identity the message claims (From/To user@host, endpoint, alias, API id), if any. */
  identity?: string | undefined;
  /** An identity the transport has proven (TLS-PSK identity, a flow bound to a registration). */
  authenticated?: string | undefined;
  /** A trusted link's name (a white-list may name it). */
  link?: string | undefined;
  userAgent?: string | undefined;
  /** Identity and credential fields to scan for injection: username, realm, uri, from, to, endpoint, id … */
  fields?: Readonly<Record<string, string | undefined>> | undefined;
  /** Why the message could not be read, when it could not. */
  malformed?: string | undefined;
  /** Other fingerprints a scanner signature may name (e.g. the From display name). */
  from?: string | undefined;
}

export type AuthMechanism = 'ks1' | 'digest' | 'h235' | 'app-hmac' | 'http';

/** Something the adapter learnt after the message went in: an authentication's result, a dialog violation. */
export interface IdsOutcome extends IdsSource {
  kind: 'auth-success' | 'auth-failure' | 'dialog-violation';
  /** The identity authenticated or tried. */
  identity?: string | undefined;
  mechanism?: AuthMechanism | undefined;
  method?: string | undefined;
  reason?: string | undefined;
}

export type Verdict =
  | { kind: 'pass' }
  | { kind: 'drop'; rule: string; reason: string }
  | { kind: 'reject'; rule: string; reason: string; status: number; retryAfter?: number };

export const PASS: Verdict = Object.freeze({ kind: 'pass' }) as Verdict;

export type BlockScope = 'flow' | 'address' | 'identity';

/** A blacklist entry. Every one expires. */
export interface BlockEntry {
  /** `address`, `address:port` (`[v6]:port`), or `id:<identity>`. */
  target: string;
  scope: BlockScope;
  rule: string;
  reason: string;
  since: number;
  until: number;
  /** Messages dropped because of it. */
  hits: number;
}

/** One detection: what fired, against whom, and what was done. */
export interface Detection {
  rule: string;
  type: string;
  /** The partner: flow, address or identity the rule counted. */
  partner: string;
  reason: string;
  /** Actions taken (log, count, drop, answer, block). */
  actions: string[];
  protocol: IdsProtocol;
  source: string;
  identity?: string | undefined;
  /** The block made, when one was. */
  block?: { target: string; scope: BlockScope; until: number } | undefined;
  at: number;
}
