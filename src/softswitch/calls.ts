/**
 * Call routing decisions that do not depend on the wire: where a binding is
 * reached, how failures of several branches are merged into one answer, the
 * loop-detection key. The SIP proxy that uses them is
 * src/adapters/sip/softswitch-route.ts; docs/softswitch-calls.md explains the choices.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { SipBinding } from '../store/bindings.js';

export type HopProtocol = 'udp' | 'tcp' | 'tls';

/** A next hop: where the request is sent and, when it changes, the Request-URI it carries. */
export interface Hop {
  address: string;
  port: number;
  protocol: HopProtocol;
}

export interface BindingTarget {
  binding: SipBinding;
  /** Request-URI for the branch: the contact. */
  requestUri: string;
  /** Undefined: send where the Request-URI says. */
  hop: Hop | undefined;
  /** The binding came through a trusted SBC (the hop is that SBC). */
  viaSbc: boolean;
}

/** `udp:192.0.2.10:5060`, `tcp:[2001:db8::1]:5060` or `tcp:2001:db8::1:5060` as the registrar stores `source`. */
export function parseSource(source: string): Hop | undefined {
  const m = /^(udp|tcp|tls):(.+):([0-9]{1,5})$/.exec(source);
  if (!m) return undefined;
  const address = m[2]!.replace(/^\[(.*)\]$/, '$1');
  const port = Number(m[3]);
  if (!isIP(address) || port <= 0 || port > 65535) return undefined;
  return { protocol: m[1] as HopProtocol, address, port };
}

const PRIVATE_V4 = [/^10\./, /^192\.168\./, /^172\.(1[6-9]|2[0-9]|3[01])\./, /^100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\./, /^169\.254\./];

/** RFC 1918, RFC 6598 (CGN), link-local and IPv6 ULA/link-local: addresses a contact behind NAT shows. */
export function isPrivateAddress(a: string): boolean {
  const fam = isIP(a);
  if (fam === 4) return PRIVATE_V4.some((r) => r.test(a));
  if (fam === 6) return /^f[cd]/i.test(a) || /^fe[89ab]/i.test(a);
  return false;
}

/** Host and port of a contact URI string, enough to decide NAT; undefined when not a plain SIP URI. */
function contactHost(contact: string): string | undefined {
  const m = /^sips?:(?:[^@]*@)?(\[[^\]]+\]|[^:;?]+)/i.exec(contact);
  return m ? m[1]!.replace(/^\[(.*)\]$/, '$1') : undefined;
}

/**
 * Where a binding is reached:
 * - registered through a trusted SBC (`idsp` set): the SBC's address the
 *   REGISTER came from, Request-URI = the contact, so the SBC finds its terminal;
 * - registered here over TCP/TLS: back on the terminal's own connection (the
 *   source address and port; RFC 5626 flow reuse, the only way to reach a
 *   TLS-PSK terminal);
 * - registered here over UDP: the contact, unless it names a private address
 *   while the REGISTER came from a public one (the terminal is behind NAT:
 *   then the source).
 */
export function targetOf(b: SipBinding): BindingTarget {
  const src = parseSource(b.source);
  if (b.idsp && src) return { binding: b, requestUri: b.contact, hop: src, viaSbc: true };
  if (src && src.protocol !== 'udp') return { binding: b, requestUri: b.contact, hop: src, viaSbc: false };
  const host = contactHost(b.contact);
  if (src && host && isPrivateAddress(host) && !isPrivateAddress(src.address)) return { binding: b, requestUri: b.contact, hop: src, viaSbc: false };
  return { binding: b, requestUri: b.contact, hop: undefined, viaSbc: false };
}

/**
 * The key of RFC 3261 §16.6 step 8 / §16.3 step 4: a hash of the fields a
 * spiral changes and a loop does not. Carried in our Via as `ks-loop`; a
 * request that arrives with one of our Vias carrying its own key has looped.
 */
export function loopKey(f: { requestUri: string; callId: string; cseq: number; fromTag: string; toTag: string; route: string; proxyRequire: string }): string {
  return createHash('sha256')
    .update(f.requestUri + '\n' + f.callId + '\n' + f.cseq + '\n' + f.fromTag + '\n' + f.toTag + '\n' + f.route + '\n' + f.proxyRequire)
    .digest()
    .subarray(0, 9)
    .toString('base64url');
}

/**
 * A branch's final answer as the proxy sees it: a local timeout is 408, a
 * local transport failure means the contact is unreachable (480), and a
 * downstream 503 is not passed on as such (RFC 3261 §16.7 step 6: 500).
 */
export function effectiveStatus(status: number, localReason: 'timeout' | 'transport' | undefined): number {
  if (localReason === 'transport') return 480;
  if (localReason === 'timeout') return 408;
  if (status === 503) return 500;
  return status;
}

/**
 * Orders failed branches for the answer upstream (RFC 3261 §16.7 step 6,
 * simplified): 6xx first (it also stops forking), then 4xx other than 408,
 * then 3xx, 5xx, and 408 last (a timeout says least about the callee).
 */
export function failureRank(status: number): number {
  if (status >= 600) return 0;
  if (status === 408) return 4;
  if (status >= 500) return 3;
  if (status >= 400) return 1;
  return 2;
}

export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}

/** Methods that create a dialog and so get our Record-Route. */
export const DIALOG_FORMING = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY']);

/** What an OPTIONS to the softswitch itself answers in Allow. */
export const PROXY_ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, UPDATE, INFO, PRACK, REFER, SUBSCRIBE, NOTIFY, REGISTER';
