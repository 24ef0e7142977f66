/**
 * keyswitch's registration flow carried in MGCP vendor extension parameters
 * (`X-KS-…`, RFC 3435 §3.2.2 extension parameters). Byte values are
 * unpadded base64url, TS is decimal Unix seconds, mechanism lists use the
 * RFC 3329 syntax. This file maps neutral s1..s10 to parameter lists and
 * back; which command carries which step is in docs/mgcp.md.
 */
import { AUTH_LEN, fromB64u, MAC_LEN, NONCE_LEN, RAND_LEN, toB64u, WRAPPED_LEN } from '../../crypto/ks1.js';
import { parseMechanisms } from '../../flow/mechanisms.js';
import type { MechanismList, S1, S10, S2, S5, S6, S7, S8, S9 } from '../../flow/messages.js';
import { param, type MgcpParam } from '../../mgcp/types.js';

export const KS = {
  IDC: 'X-KS-IDC',
  IDSP: 'X-KS-IDSP',
  N1: 'X-KS-N1',
  N2: 'X-KS-N2',
  TS: 'X-KS-TS',
  RAND: 'X-KS-RAND',
  MECHS: 'X-KS-MECHS',
  RESPONSE: 'X-KS-RESPONSE',
  MECH: 'X-KS-MECH',
  EKC: 'X-KS-EKC',
  EKSP: 'X-KS-EKSP',
  MAC: 'X-KS-MAC',
  RESULT: 'X-KS-RESULT',
  IPC: 'X-KS-IPC',
  SEQ: 'X-KS-SEQ',
  HMAC: 'X-KS-HMAC',
} as const;

/** Every keyswitch parameter starts with this (keys are lower-case). */
export const KS_PREFIX = 'x-ks-';
export const isKsKey = (key: string): boolean => key.startsWith(KS_PREFIX);

/** Why the call agent sends a challenge again: `failed` after a wrong response, `retry` when the old one went stale. */
export type ChallengeResult = 'failed' | 'retry';

export type Decoded<T> = { ok: true; value: T } | { ok: false; field: string };

/** One pass over the parameters: each X-KS-… name at most once. */
class KsFields {
  readonly #values = new Map<string, string>();
  readonly dup: string | undefined;
  constructor(params: MgcpParam[]) {
    let dup: string | undefined;
    for (const p of params) {
      if (!isKsKey(p.key)) continue;
      if (this.#values.has(p.key)) dup ??= p.name;
      else this.#values.set(p.key, p.value);
    }
    this.dup = dup;
  }
  has(name: string): boolean {
    return this.#values.has(name.toLowerCase());
  }
  text(name: string): string | undefined {
    const v = this.#values.get(name.toLowerCase());
    return v === undefined || v === '' ? undefined : v;
  }
  bytes(name: string, len: number): Buffer | undefined {
    const v = this.text(name);
    return v === undefined ? undefined : fromB64u(v, len);
  }
  ts(name: string): number | undefined {
    const v = this.text(name);
    return v !== undefined && /^\d{1,12}$/.test(v) ? Number(v) : undefined;
  }
  mechs(name: string): MechanismList | undefined {
    const v = this.text(name);
    if (v === undefined) return undefined;
    const p = parseMechanisms(v);
    return p.ok ? p.list : undefined;
  }
}

/** Runs `build`, which throws a field name at the first missing or malformed field. */
function decode<T>(params: MgcpParam[], build: (f: KsFields, need: <V>(v: V | undefined, name: string) => V) => T): Decoded<T> {
  const f = new KsFields(params);
  if (f.dup) return { ok: false, field: f.dup };
  const need = <V>(v: V | undefined, name: string): V => {
    if (v === undefined) throw new FieldError(name);
    return v;
  };
  try {
    return { ok: true, value: build(f, need) };
  } catch (err) {
    if (err instanceof FieldError) return { ok: false, field: err.field };
    throw err;
  }
}

class FieldError {
  constructor(readonly field: string) {}
}

/** An optional field: absent is fine, present but malformed is not. */
function optional<V>(f: KsFields, name: string, read: () => V | undefined): V | undefined {
  if (!f.has(name)) return undefined;
  const v = read();
  if (v === undefined) throw new FieldError(name);
  return v;
}

const b = toB64u;

// ---------- encoders ----------

export function s1Params(s1: S1): MgcpParam[] {
  const out = [param(KS.IDC, s1.idc)];
  if (s1.idsp !== undefined) out.push(param(KS.IDSP, s1.idsp));
  out.push(param(KS.N1, b(s1.n1)), param(KS.TS, String(s1.ts)));
  return out;
}

export const s2Params = (s2: S2): MgcpParam[] => [param(KS.IDC, s2.idc), param(KS.IDSP, s2.idsp)];

export function s5Params(s5: S5, result?: ChallengeResult): MgcpParam[] {
  const out = [param(KS.IDC, s5.idc), param(KS.IDSP, s5.idsp), param(KS.RAND, b(s5.rand))];
  if (result) out.push(param(KS.RESULT, result));
  return out;
}

export function s6Params(s6: S6, result?: ChallengeResult): MgcpParam[] {
  const out = [
    param(KS.IDC, s6.idc),
    param(KS.IDSP, s6.idsp),
    param(KS.RAND, b(s6.rand)),
    param(KS.N1, b(s6.n1)),
    param(KS.N2, b(s6.n2)),
    param(KS.TS, String(s6.ts)),
    param(KS.MECHS, s6.offered.text),
  ];
  if (result) out.push(param(KS.RESULT, result));
  return out;
}

export function s7Params(s7: S7): MgcpParam[] {
  const out = [param(KS.IDC, s7.idc)];
  if (s7.idsp !== undefined) out.push(param(KS.IDSP, s7.idsp));
  if (s7.rand !== undefined) out.push(param(KS.RAND, b(s7.rand)));
  out.push(
    param(KS.RESPONSE, b(s7.authenticator)),
    param(KS.N1, b(s7.n1)),
    param(KS.N2, b(s7.n2)),
    param(KS.TS, String(s7.ts)),
    param(KS.MECHS, s7.mechs.text),
  );
  return out;
}

export function s8Params(s8: S8): MgcpParam[] {
  const out = [param(KS.IDC, s8.idc), param(KS.IDSP, s8.idsp), param(KS.RAND, b(s8.rand)), param(KS.RESPONSE, b(s8.authenticator))];
  if (s8.mech !== undefined) out.push(param(KS.MECH, s8.mech));
  if (s8.ipc !== undefined) out.push(param(KS.IPC, s8.ipc));
  return out;
}

export const s9Params = (s9: S9): MgcpParam[] => [
  param(KS.IDC, s9.idc),
  param(KS.IDSP, s9.idsp),
  param(KS.RAND, b(s9.rand)),
  param(KS.EKC, b(s9.ekc)),
  param(KS.EKSP, b(s9.eksp)),
];

export const s10Params = (s10: S10): MgcpParam[] => [
  param(KS.IDC, s10.idc),
  param(KS.IDSP, s10.idsp),
  param(KS.EKC, b(s10.ekc)),
  param(KS.MECH, s10.mech),
  param(KS.MECHS, s10.mechs),
  param(KS.N1, b(s10.n1)),
  param(KS.N2, b(s10.n2)),
  param(KS.TS, String(s10.ts)),
  param(KS.MAC, b(s10.mac)),
];

// ---------- decoders (a missing or malformed field is named, never thrown) ----------

export const readS1 = (p: MgcpParam[]): Decoded<S1> =>
  decode(p, (f, need) => {
    const s1: S1 = { idc: need(f.text(KS.IDC), KS.IDC), n1: need(f.bytes(KS.N1, NONCE_LEN), KS.N1), ts: need(f.ts(KS.TS), KS.TS) };
    const idsp = optional(f, KS.IDSP, () => f.text(KS.IDSP));
    if (idsp !== undefined) s1.idsp = idsp;
    return s1;
  });

export const readS2 = (p: MgcpParam[]): Decoded<S2> =>
  decode(p, (f, need) => ({ idc: need(f.text(KS.IDC), KS.IDC), idsp: need(f.text(KS.IDSP), KS.IDSP) }));

export const readS5 = (p: MgcpParam[]): Decoded<S5 & { result?: ChallengeResult }> =>
  decode(p, (f, need) => {
    const s5: S5 & { result?: ChallengeResult } = {
      idc: need(f.text(KS.IDC), KS.IDC),
      idsp: need(f.text(KS.IDSP), KS.IDSP),
      rand: need(f.bytes(KS.RAND, RAND_LEN), KS.RAND),
    };
    const result = optional(f, KS.RESULT, () => readResult(f));
    if (result) s5.result = result;
    return s5;
  });

function readResult(f: KsFields): ChallengeResult | undefined {
  const v = f.text(KS.RESULT)?.toLowerCase();
  return v === 'failed' || v === 'retry' ? v : undefined;
}

export const readS6 = (p: MgcpParam[]): Decoded<S6 & { result?: ChallengeResult }> =>
  decode(p, (f, need) => {
    const s6: S6 & { result?: ChallengeResult } = {
      idc: need(f.text(KS.IDC), KS.IDC),
      idsp: need(f.text(KS.IDSP), KS.IDSP),
      rand: need(f.bytes(KS.RAND, RAND_LEN), KS.RAND),
      n1: need(f.bytes(KS.N1, NONCE_LEN), KS.N1),
      n2: need(f.bytes(KS.N2, NONCE_LEN), KS.N2),
      ts: need(f.ts(KS.TS), KS.TS),
      offered: need(f.mechs(KS.MECHS), KS.MECHS),
    };
    const result = optional(f, KS.RESULT, () => readResult(f));
    if (result) s6.result = result;
    return s6;
  });

export const readS7 = (p: MgcpParam[]): Decoded<S7> =>
  decode(p, (f, need) => {
    const s7: S7 = {
      idc: need(f.text(KS.IDC), KS.IDC),
      authenticator: need(f.bytes(KS.RESPONSE, AUTH_LEN), KS.RESPONSE),
      n1: need(f.bytes(KS.N1, NONCE_LEN), KS.N1),
      n2: need(f.bytes(KS.N2, NONCE_LEN), KS.N2),
      ts: need(f.ts(KS.TS), KS.TS),
      mechs: need(f.mechs(KS.MECHS), KS.MECHS),
    };
    const idsp = optional(f, KS.IDSP, () => f.text(KS.IDSP));
    if (idsp !== undefined) s7.idsp = idsp;
    const rand = optional(f, KS.RAND, () => f.bytes(KS.RAND, RAND_LEN));
    if (rand !== undefined) s7.rand = rand;
    return s7;
  });

export const readS8 = (p: MgcpParam[]): Decoded<S8> =>
  decode(p, (f, need) => {
    const s8: S8 = {
      idc: need(f.text(KS.IDC), KS.IDC),
      idsp: need(f.text(KS.IDSP), KS.IDSP),
      rand: need(f.bytes(KS.RAND, RAND_LEN), KS.RAND),
      authenticator: need(f.bytes(KS.RESPONSE, AUTH_LEN), KS.RESPONSE),
    };
    const mech = optional(f, KS.MECH, () => f.text(KS.MECH));
    if (mech !== undefined) s8.mech = mech;
    const ipc = optional(f, KS.IPC, () => f.text(KS.IPC));
    if (ipc !== undefined) s8.ipc = ipc;
    return s8;
  });

export const readS9 = (p: MgcpParam[]): Decoded<S9> =>
  decode(p, (f, need) => ({
    idc: need(f.text(KS.IDC), KS.IDC),
    idsp: need(f.text(KS.IDSP), KS.IDSP),
    rand: need(f.bytes(KS.RAND, RAND_LEN), KS.RAND),
    ekc: need(f.bytes(KS.EKC, WRAPPED_LEN), KS.EKC),
    eksp: need(f.bytes(KS.EKSP, WRAPPED_LEN), KS.EKSP),
  }));

export const readS10 = (p: MgcpParam[]): Decoded<S10> =>
  decode(p, (f, need) => ({
    idc: need(f.text(KS.IDC), KS.IDC),
    idsp: need(f.text(KS.IDSP), KS.IDSP),
    n1: need(f.bytes(KS.N1, NONCE_LEN), KS.N1),
    n2: need(f.bytes(KS.N2, NONCE_LEN), KS.N2),
    ts: need(f.ts(KS.TS), KS.TS),
    ekc: need(f.bytes(KS.EKC, WRAPPED_LEN), KS.EKC),
    mech: need(f.text(KS.MECH), KS.MECH),
    mechs: need(f.text(KS.MECHS), KS.MECHS),
    mac: need(f.bytes(KS.MAC, MAC_LEN), KS.MAC),
  }));

// ---------- which step a command is ----------

export type KsStep = 's1' | 's2' | 'challenge' | 'response' | 'success' | undefined;

/**
 * RSIP with N1 is s1 (from a gateway), RSIP with IDc but no N1 is s2 (at the
 * call agent); NTFY with a response is s7/s8; RQNT with EKC is s9/s10, RQNT
 * with Rand and no EKC is s5/s6.
 */
export function ksStep(verb: string, params: MgcpParam[]): KsStep {
  let idc = false, n1 = false, rand = false, response = false, ekc = false;
  for (const p of params) {
    switch (p.key) {
      case 'x-ks-idc': idc = true; break;
      case 'x-ks-n1': n1 = true; break;
      case 'x-ks-rand': rand = true; break;
      case 'x-ks-response': response = true; break;
      case 'x-ks-ekc': ekc = true; break;
    }
  }
  if (verb === 'RSIP') return n1 ? 's1' : idc ? 's2' : undefined;
  if (verb === 'NTFY') return response ? 'response' : undefined;
  if (verb === 'RQNT') return ekc ? 'success' : rand ? 'challenge' : undefined;
  return undefined;
}

/** The parameters without any X-KS-… ones (what the SBC lets through on other commands). */
export const withoutKs = (params: MgcpParam[]): MgcpParam[] => params.filter((p) => !isKsKey(p.key));
