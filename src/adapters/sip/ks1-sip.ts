/**
 * KS1 in SIP headers, the one encoding both roles use: the terminal-facing form of
 * docs/design.md ("SIP (terminal ↔ SBC), exactly") and the core-link form of
 * docs/sip-core-link.md. Pure codec: header parameters in, the flow's neutral messages out,
 * and back; it knows nothing of the flow's rules. One `ts` rule (decimal seconds, at most 12
 * digits) and one table naming the SIP parameter of each flow field.
 *
 * Two ways to read s1 and s7: `decodeS1`/`decodeS7` hand malformed values to the flow as
 * invalid so that it names the field (the SBC); `readS1`/`readS7` stop at the first bad
 * parameter and name it (the softswitch, for terminals registering without an SBC).
 */
import { fromB64u, toB64u, AUTH_LEN, NONCE_LEN, RAND_LEN, WRAPPED_LEN } from '../../crypto/ks1.js';
import { formatMechanisms, parseMechanisms } from '../../flow/mechanisms.js';
import type { Mechanism, MechanismList, S1, S5, S6, S7, S8, S9, S10 } from '../../flow/messages.js';
import { formatAuth, isSipUri, parseAuth, SipHeaderError, unescapeUri, type AuthValue, type NameAddr, type SipMessage } from '../../sip/index.js';

export const KS1 = 'KS1';
export const P_KS_IDSP = 'P-KS-IDSP';
export const P_KS_MECH = 'P-KS-Mech';
export const P_KS_IPC = 'P-KS-IPC';
export const P_KS_KEYS = 'P-KS-Keys';
export const P_KS_AUTH = 'P-KS-Auth';

/** The SIP name of each flow field (parameter or header), for a 400 that names what the terminal got wrong. */
export const SIP_FIELD: Record<string, string> = {
  idc: 'username',
  idsp: 'realm',
  n1: 'n1',
  n2: 'n2',
  ts: 'ts',
  authenticator: 'response',
  rand: 'nonce',
  mechs: 'Security-Client',
};

/** `user@host` of a From/To/Contact: IDc as docs/design.md writes it. Undefined for a non-SIP URI. */
export function aorOf(na: NameAddr): string | undefined {
  const u = na.uri;
  if (!isSipUri(u)) return undefined;
  const host = u.host.indexOf(':') >= 0 ? `[${u.host}]` : u.host;
  return u.user !== undefined ? `${unescapeUri(u.user)}@${host}` : host;
}

/** Removes every `P-KS-*` header (case-insensitive); returns how many lines went. */
export function stripPrivate(m: SipMessage): number {
  const hs = m.headers;
  let i = 0;
  while (i < hs.length && !hs[i]!.key.startsWith('p-ks-')) i++;
  if (i === hs.length) return 0; // the usual case: none, and no new list
  const before = hs.length;
  m.headers = hs.filter((h) => !h.key.startsWith('p-ks-'));
  return before - m.headers.length;
}

export type Ks1Authorization =
  | { kind: 'none' }
  /** An Authorization header that does not parse: 400 naming it. */
  | { kind: 'malformed' }
  | { kind: 'ks1'; params: Record<string, string>; index: number };

/** Finds the KS1 credentials among the Authorization lines. */
export function findKs1(m: SipMessage): Ks1Authorization {
  let auth: AuthValue[];
  try {
    auth = m.auth('Authorization');
  } catch (e) {
    if (e instanceof SipHeaderError) return { kind: 'malformed' };
    throw e;
  }
  const index = auth.findIndex((a) => a.scheme.toUpperCase() === KS1);
  return index < 0 ? { kind: 'none' } : { kind: 'ks1', params: auth[index]!.params, index };
}

/** Removes the KS1 Authorization line(s), leaving others (e.g. Digest) alone. */
export function removeKs1Authorization(m: SipMessage): void {
  const keep = m.headers.filter((h) => h.key !== 'authorization' || !/^\s*ks1\s/i.test(h.value));
  if (keep.length !== m.headers.length) {
    m.remove('Authorization');
    for (const h of keep) if (h.key === 'authorization') m.append(h.name, h.value);
  }
}

/** An s7 carries the terminal's answer; an s1 does not. */
export function isS7(params: Record<string, string>): boolean {
  return 'response' in params || 'n2' in params || 'nonce' in params;
}

/** KS1 `ts`: seconds since 1970 in decimal, at most 12 digits (one rule for every role). */
const TS = /^[0-9]{1,12}$/;
const BAD = Buffer.alloc(0); // present but malformed: the flow names the field

function bytes(v: string | undefined, len: number): Buffer | undefined {
  if (v === undefined) return undefined;
  return fromB64u(v, len) ?? BAD;
}

function ts(v: string | undefined): number {
  return v !== undefined && TS.test(v) ? Number(v) : NaN;
}

/** s1 from `Authorization: KS1 username, realm?, n1, ts`. Malformed values reach the flow as invalid, so it names them. */
export function decodeS1(p: Record<string, string>): S1 {
  const s1 = { idc: p.username, n1: bytes(p.n1, NONCE_LEN), ts: ts(p.ts) } as S1;
  if (p.realm !== undefined) s1.idsp = p.realm;
  return s1;
}

/** The Security-Client list as the terminal wrote it (several lines joined by commas). */
export function securityClientText(m: SipMessage): string | undefined {
  const lines = m.getAll('Security-Client');
  return lines.length === 0 ? undefined : lines.join(',');
}

/** s7 from the KS1 Authorization and Security-Client. */
export function decodeS7(p: Record<string, string>, securityClient: string | undefined): S7 {
  let mechs: MechanismList | undefined;
  if (securityClient !== undefined) {
    const r = parseMechanisms(securityClient);
    if (r.ok) mechs = r.list;
  }
  const s7 = {
    idc: p.username,
    n1: bytes(p.n1, NONCE_LEN),
    n2: bytes(p.n2, NONCE_LEN),
    ts: ts(p.ts),
    authenticator: bytes(p.response, AUTH_LEN),
    mechs,
  } as S7;
  if (p.realm !== undefined) s7.idsp = p.realm;
  if (p.nonce !== undefined) s7.rand = bytes(p.nonce, RAND_LEN);
  return s7;
}

/** s6's `WWW-Authenticate: KS1 …` and `Security-Server:` values. */
export function encodeS6(s6: S6): { wwwAuthenticate: string; securityServer: string } {
  return {
    wwwAuthenticate: formatAuth(KS1, {
      realm: s6.idsp,
      nonce: toB64u(s6.rand),
      n1: toB64u(s6.n1),
      n2: toB64u(s6.n2),
      ts: String(s6.ts),
      algorithm: 'ks1',
    }),
    securityServer: s6.offered.text,
  };
}

/** s10's `Authentication-Info: KS1 …` (the same to a terminal whether the SBC or the softswitch answers). */
export function encodeS10(s10: S10): string {
  return formatAuth(KS1, {
    n1: toB64u(s10.n1),
    n2: toB64u(s10.n2),
    ts: String(s10.ts),
    ekc: toB64u(s10.ekc),
    mech: s10.mech,
    mechs: s10.mechs,
    mac: toB64u(s10.mac),
  });
}

/** The chosen mechanism as s10's Security-Server names it, with the SBC's q and any extra parameters (e.g. `port`). */
export function chosenSecurityServer(chosen: string, offered: readonly Mechanism[], extra: Record<string, string | number> = {}): string {
  const m = offered.find((o) => o.name.toLowerCase() === chosen.toLowerCase()) ?? { name: chosen, q: 1 };
  let text = formatMechanisms([m]);
  for (const [k, v] of Object.entries(extra)) text += `;${k}=${v}`;
  return text;
}

// ---------- core link (docs/sip-core-link.md) ----------

/** s5 from the core's `401` (`WWW-Authenticate: KS1 realm, nonce, algorithm=ks1`); undefined if it is not one. */
export function decodeS5(res: SipMessage, idc: string): S5 | undefined {
  let auth: AuthValue[];
  try {
    auth = res.auth('WWW-Authenticate');
  } catch {
    return undefined;
  }
  const ks1 = auth.find((a) => a.scheme.toUpperCase() === KS1);
  if (!ks1) return undefined;
  const rand = fromB64u(ks1.params.nonce ?? '', RAND_LEN);
  const idsp = ks1.params.realm;
  if (!rand || idsp === undefined) return undefined;
  return { idc, idsp, rand };
}

/** s2's KS1 marker: `Authorization: KS1 username="<IDc>", realm="<IDsp>"`. */
export function encodeS2Authorization(idc: string, idsp: string): string {
  return formatAuth(KS1, { username: idc, realm: idsp });
}

/** s8's Authorization value: exactly these four parameters. */
export function encodeS8Authorization(s8: S8): string {
  return formatAuth(KS1, { username: s8.idc, realm: s8.idsp, nonce: toB64u(s8.rand), response: toB64u(s8.authenticator) });
}

/** s9 from the core's 200 (`P-KS-Keys: ekc, eksp, rand`); undefined if absent or malformed. */
export function decodeS9(res: SipMessage, idc: string, idsp: string): S9 | undefined {
  const v = res.get(P_KS_KEYS);
  if (v === undefined) return undefined;
  let p: Record<string, string>;
  try {
    p = parseAuth(v, P_KS_KEYS, false).params;
  } catch {
    return undefined;
  }
  const ekc = fromB64u(p.ekc ?? '', WRAPPED_LEN);
  const eksp = fromB64u(p.eksp ?? '', WRAPPED_LEN);
  const rand = fromB64u(p.rand ?? '', RAND_LEN);
  if (!ekc || !eksp || !rand) return undefined;
  return { idc, idsp, rand, ekc, eksp };
}


// ---------- strict reading (the softswitch, terminals without an SBC) ----------

export type Decoded<T> = { ok: true; value: T } | { ok: false; param: string };

function strictBytes(p: Record<string, string>, name: string, len: number): Buffer | undefined {
  const v = p[name];
  return v === undefined ? undefined : fromB64u(v, len);
}

/** s1 from a terminal: username, [realm], n1, ts; the first bad parameter is named. */
export function readS1(p: Record<string, string>): Decoded<S1> {
  if (!p.username) return { ok: false, param: 'username' };
  const n1 = strictBytes(p, 'n1', NONCE_LEN);
  if (!n1) return { ok: false, param: 'n1' };
  if (p.ts === undefined || !TS.test(p.ts)) return { ok: false, param: 'ts' };
  const s1: S1 = { idc: p.username, n1, ts: Number(p.ts) };
  if (p.realm !== undefined) s1.idsp = p.realm;
  return { ok: true, value: s1 };
}

/** s7 from a terminal: username, [realm], nonce, response, n1, n2, ts, with Security-Client. */
export function readS7(p: Record<string, string>, securityClient: string | undefined): Decoded<S7> {
  if (!p.username) return { ok: false, param: 'username' };
  const rand = strictBytes(p, 'nonce', RAND_LEN);
  if (!rand) return { ok: false, param: 'nonce' };
  const authenticator = strictBytes(p, 'response', AUTH_LEN);
  if (!authenticator) return { ok: false, param: 'response' };
  const n1 = strictBytes(p, 'n1', NONCE_LEN);
  if (!n1) return { ok: false, param: 'n1' };
  const n2 = strictBytes(p, 'n2', NONCE_LEN);
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
export function readS8(p: Record<string, string>, idsp: string, mech: string | undefined, ipc: string | undefined): Decoded<S8> {
  if (!p.username) return { ok: false, param: 'username' };
  if (p.realm !== undefined && p.realm !== idsp) return { ok: false, param: 'realm' };
  const rand = strictBytes(p, 'nonce', RAND_LEN);
  if (!rand) return { ok: false, param: 'nonce' };
  const authenticator = strictBytes(p, 'response', AUTH_LEN);
  if (!authenticator) return { ok: false, param: 'response' };
  const s8: S8 = { idc: p.username, idsp, rand, authenticator };
  if (mech) s8.mech = mech;
  if (ipc) s8.ipc = ipc;
  return { ok: true, value: s8 };
}

/** s5 on the core link: `WWW-Authenticate: KS1 realm, nonce, algorithm=ks1`. */
export function encodeS5(s5: S5): string {
  return formatAuth(KS1, { realm: s5.idsp, nonce: toB64u(s5.rand), algorithm: 'ks1' });
}

/** s9 on the core link: `P-KS-Keys: ekc, eksp, rand`. */
export function encodeS9(s9: S9): string {
  return formatAuth('', { ekc: toB64u(s9.ekc), eksp: toB64u(s9.eksp), rand: toB64u(s9.rand) });
}
