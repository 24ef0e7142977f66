/**
 * KS1 in SIP headers, as the softswitch reads and writes them: the
 * terminal-facing form of docs/design.md ("SIP (terminal ↔ SBC), exactly") for
 * terminals that register without an SBC, and the core-link form of
 * docs/sip-core-link.md. Knows nothing of the flow's rules: it turns header
 * parameters into the neutral messages and back, and names the SIP
 * parameter that is missing or malformed.
 */
import { formatAuth } from '../../sip/index.js';
import { fromB64u, toB64u, AUTH_LEN, NONCE_LEN, RAND_LEN } from '../../crypto/ks1.js';
import { formatMechanisms, parseMechanisms } from '../../flow/mechanisms.js';
import type { Mechanism, S1, S5, S6, S7, S8, S9, S10 } from '../../flow/messages.js';
import { encodeS10 as authenticationInfo } from './sbc-ks1.js';

export type Decoded<T> = { ok: true; value: T } | { ok: false; param: string };

/** Flow field → the SIP parameter (or header) that carries it, for 400 answers. */
export const KS1_PARAM_OF: Record<string, string> = {
  idc: 'username',
  idsp: 'realm',
  rand: 'nonce',
  authenticator: 'response',
  n1: 'n1',
  n2: 'n2',
  ts: 'ts',
  mechs: 'Security-Client',
};

const TS = /^[0-9]{1,12}$/;

function bytes(p: Record<string, string>, name: string, len: number): Buffer | undefined | null {
  const v = p[name];
  if (v === undefined) return undefined;
  return fromB64u(v, len) ?? null;
}

/** True when a KS1 Authorization is an s7 (it answers a challenge) rather than an s1. */
export function isKs1Answer(p: Record<string, string>): boolean {
  return p.response !== undefined || p.n2 !== undefined || p.nonce !== undefined;
}

/** s1 from a terminal: username, [realm], n1, ts. */
export function decodeS1(p: Record<string, string>): Decoded<S1> {
  if (!p.username) return { ok: false, param: 'username' };
  const n1 = bytes(p, 'n1', NONCE_LEN);
  if (!n1) return { ok: false, param: 'n1' };
  if (p.ts === undefined || !TS.test(p.ts)) return { ok: false, param: 'ts' };
  const s1: S1 = { idc: p.username, n1, ts: Number(p.ts) };
  if (p.realm !== undefined) s1.idsp = p.realm;
  return { ok: true, value: s1 };
}

/** s7 from a terminal: username, [realm], nonce, response, n1, n2, ts, with Security-Client. */
export function decodeS7(p: Record<string, string>, securityClient: string | undefined): Decoded<S7> {
  if (!p.username) return { ok: false, param: 'username' };
  const rand = bytes(p, 'nonce', RAND_LEN);
  if (!rand) return { ok: false, param: 'nonce' };
  const authenticator = bytes(p, 'response', AUTH_LEN);
  if (!authenticator) return { ok: false, param: 'response' };
  const n1 = bytes(p, 'n1', NONCE_LEN);
  if (!n1) return { ok: false, param: 'n1' };
  const n2 = bytes(p, 'n2', NONCE_LEN);
  if (!n2) return { ok: false, param: 'n2' };
  if (p.ts === undefined || !TS.test(p.ts)) return { ok: false, param: 'ts' };
  if (securityClient === undefined) return { ok: false, param: 'Security-Client' };
  const mechs = parseMechanisms(securityClient);
  if (!mechs.ok) return { ok: false, param: 'Security-Client' };
  const s7: S7 = { idc: p.username, n1, n2, ts: Number(p.ts), rand, authenticator, mechs: mechs.list };
  if (p.realm !== undefined) s7.idsp = p.realm;
  return { ok: true, value: s7 };
}

/** s8 on the core link: KS1 username, realm, nonce, response + P-KS-IDSP/-Mech/-IPC. */
export function decodeS8(p: Record<string, string>, idsp: string, mech: string | undefined, ipc: string | undefined): Decoded<S8> {
  if (!p.username) return { ok: false, param: 'username' };
  if (p.realm !== undefined && p.realm !== idsp) return { ok: false, param: 'realm' };
  const rand = bytes(p, 'nonce', RAND_LEN);
  if (!rand) return { ok: false, param: 'nonce' };
  const authenticator = bytes(p, 'response', AUTH_LEN);
  if (!authenticator) return { ok: false, param: 'response' };
  const s8: S8 = { idc: p.username, idsp, rand, authenticator };
  if (mech) s8.mech = mech;
  if (ipc) s8.ipc = ipc;
  return { ok: true, value: s8 };
}

/** s5 on the core link. */
export function encodeS5(s5: S5): string {
  return formatAuth('KS1', { realm: s5.idsp, nonce: toB64u(s5.rand), algorithm: 'ks1' });
}

/** s6 to a terminal: WWW-Authenticate and Security-Server. */
export function encodeS6(s6: S6): { wwwAuthenticate: string; securityServer: string } {
  return {
    wwwAuthenticate: formatAuth('KS1', { realm: s6.idsp, nonce: toB64u(s6.rand), n1: toB64u(s6.n1), n2: toB64u(s6.n2), ts: String(s6.ts), algorithm: 'ks1' }),
    securityServer: s6.offered.text,
  };
}

/** s9 on the core link: P-KS-Keys. */
export function encodeS9(s9: S9): string {
  return formatAuth('', { ekc: toB64u(s9.ekc), eksp: toB64u(s9.eksp), rand: toB64u(s9.rand) });
}

/** s10 to a terminal: Authentication-Info and the chosen Security-Server. */
export function encodeS10(s10: S10, offered: readonly Mechanism[]): { authenticationInfo: string; securityServer: string } {
  const chosen = offered.find((m) => m.name.toLowerCase() === s10.mech.toLowerCase()) ?? { name: s10.mech, q: 1 };
  return {
    // The same terminal-facing encoding as the SBC's (docs/design.md fixes it).
    authenticationInfo: authenticationInfo(s10),
    securityServer: formatMechanisms([chosen]),
  };
}
