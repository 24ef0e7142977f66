/**
 * SIP ↔ flow messages for the terminal (docs/design.md, "SIP (terminal ↔ SBC),
 * exactly"): s1 and s7 out as `Authorization: KS1 …` (+ Security-Client),
 * s6 and s10 in from `WWW-Authenticate` / `Authentication-Info`.
 */
import { fromB64u, toB64u, NONCE_LEN, RAND_LEN, MAC_LEN, WRAPPED_LEN } from '../../crypto/ks1.js';
import { parseMechanisms } from '../../flow/mechanisms.js';
import type { S1, S6, S7, S10 } from '../../flow/messages.js';
import { formatAuth, type AuthValue, type SipMessage } from '../../sip/index.js';

const TS = /^[0-9]{1,15}$/;
const BAD = Buffer.alloc(0);

export function encodeS1Authorization(s1: S1): string {
  const p: Record<string, string> = { username: s1.idc };
  if (s1.idsp !== undefined) p.realm = s1.idsp;
  p.n1 = toB64u(s1.n1);
  p.ts = String(s1.ts);
  return formatAuth('KS1', p);
}

export function encodeS7(s7: S7): { authorization: string; securityClient: string } {
  const p: Record<string, string> = { username: s7.idc };
  if (s7.idsp !== undefined) p.realm = s7.idsp;
  if (s7.rand !== undefined) p.nonce = toB64u(s7.rand);
  p.response = toB64u(s7.authenticator);
  p.n1 = toB64u(s7.n1);
  p.n2 = toB64u(s7.n2);
  p.ts = String(s7.ts);
  return { authorization: formatAuth('KS1', p), securityClient: s7.mechs.text };
}

function ks1(values: AuthValue[]): Record<string, string> | undefined {
  return values.find((a) => a.scheme.toUpperCase() === 'KS1')?.params;
}

const b = (v: string | undefined, len: number): Buffer => (v === undefined ? BAD : fromB64u(v, len) ?? BAD);
const t = (v: string | undefined): number => (v !== undefined && TS.test(v) ? Number(v) : NaN);

/** s6 from a 401; undefined when it carries no KS1 challenge (e.g. a Digest one). */
export function decodeS6(res: SipMessage, idc: string): S6 | undefined {
  let p: Record<string, string> | undefined;
  try {
    p = ks1(res.auth('WWW-Authenticate'));
  } catch {
    return undefined;
  }
  if (!p) return undefined;
  const offered = parseMechanisms(res.getAll('Security-Server').join(','));
  return {
    idc,
    idsp: p.realm as string,
    n1: b(p.n1, NONCE_LEN),
    n2: b(p.n2, NONCE_LEN),
    ts: t(p.ts),
    rand: b(p.nonce, RAND_LEN),
    offered: offered.ok ? offered.list : { items: [], text: '' },
  };
}

/** s10 from a 200; `idc`/`idsp` are the terminal's own knowledge (SIP does not repeat them). */
export function decodeS10(res: SipMessage, idc: string, idsp: string): S10 | undefined {
  let p: Record<string, string> | undefined;
  try {
    const ai = res.authenticationInfo();
    p = ai && ai.scheme.toUpperCase() === 'KS1' ? ai.params : undefined;
  } catch {
    return undefined;
  }
  if (!p) return undefined;
  return {
    idc,
    idsp,
    n1: b(p.n1, NONCE_LEN),
    n2: b(p.n2, NONCE_LEN),
    ts: t(p.ts),
    ekc: b(p.ekc, WRAPPED_LEN),
    mech: p.mech as string,
    mechs: p.mechs as string,
    mac: b(p.mac, MAC_LEN),
  };
}

/** The `port` parameter the SBC puts on s10's Security-Server for tls / tls-psk. */
export function securityServerPort(res: SipMessage, mech: string): number | undefined {
  try {
    const m = res.security('Security-Server').find((x) => x.mechanism.toLowerCase() === mech.toLowerCase());
    const p = m?.params.port;
    return p && /^[0-9]{1,5}$/.test(p) && Number(p) > 0 && Number(p) < 65536 ? Number(p) : undefined;
  } catch {
    return undefined;
  }
}
