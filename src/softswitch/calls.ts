/**
 * Call routing decisions that do not depend on the wire: where a binding is
 * reached (the proxy mechanics — loops, merging branch failures — are the proxy
 * core's, src/sip/proxy). The SIP proxy that uses them is
 * src/softswitch/sip-route.ts; docs/softswitch-calls.md explains the choices.
 */
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

export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}

/** Methods that create a dialog and so get our Record-Route. */
export const DIALOG_FORMING = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY']);

/** What an OPTIONS to the softswitch itself answers in Allow. */
export const PROXY_ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, UPDATE, INFO, PRACK, REFER, SUBSCRIBE, NOTIFY, REGISTER';
