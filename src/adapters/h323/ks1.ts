/**
 * keyswitch's flow (s1..s10) in RAS: each step is one ClearToken with
 * tokenOID KS_OID.ks1 in the message's `tokens`. Identities travel as
 * H.235 does it: `sendersID` is who the message speaks for, `generalID` who
 * it is for — IDc and IDsp, in the direction of the access leg (the SBC
 * speaks for the terminal toward the softswitch). TS is `timeStamp`; N1 (s1,
 * s7) and Rand (s5, s6, s8, s9) are `challenge`; the rest are profileInfo
 * elements (oids.ts). docs/h323.md has the table.
 */
import { parseMechanisms } from '../../flow/mechanisms.js';
import type { MechanismList, S1, S10, S2, S5, S6, S7, S8, S9 } from '../../flow/messages.js';
import { GCM_NONCE_LEN } from '../../crypto/ks1.js';
import type { ClearToken, ProfileElement } from '../../h323/index.js';
import { AES256_GCM_OID, EL, KS_OID } from './oids.js';

export type Read<T> = { ok: true; value: T } | { ok: false; field: string };

/** The KS1 token of a message's `tokens`, if it has one. */
export function ks1Token(tokens: ClearToken[] | undefined): ClearToken | undefined {
  return tokens?.find((t) => t.tokenOID === KS_OID.ks1);
}

const octets = (elementID: number, value: Buffer): ProfileElement => ({ elementID, element: { type: 'octets', value } });
const text = (elementID: number, value: string): ProfileElement => ({ elementID, element: { type: 'name', value } });

/** Reads profileInfo elements by id (the first of each id counts). */
class Elements {
  readonly #by = new Map<number, ProfileElement>();
  constructor(t: ClearToken) {
    for (const e of t.profileInfo ?? []) if (!this.#by.has(e.elementID)) this.#by.set(e.elementID, e);
  }
  octets(id: number): Buffer | undefined {
    const e = this.#by.get(id)?.element;
    return e?.type === 'octets' ? (e.value as Buffer) : undefined;
  }
  text(id: number): string | undefined {
    const e = this.#by.get(id)?.element;
    return e?.type === 'name' ? (e.value as string) : undefined;
  }
  has(id: number): boolean {
    return this.#by.has(id);
  }
}

function mechs(text: string | undefined): MechanismList | undefined {
  if (text === undefined) return undefined;
  const p = parseMechanisms(text);
  return p.ok ? p.list : undefined;
}

/** E_Kc[Kc,sp] = nonce(12) ‖ ciphertext ‖ tag: the nonce goes in paramS.iv, the rest in encryptedSessionKey. */
function keyField(ekc: Buffer): ClearToken['h235Key'] {
  return {
    type: 'secureSharedSecret',
    value: { algorithmOID: AES256_GCM_OID, paramS: { iv: ekc.subarray(0, GCM_NONCE_LEN) }, encryptedSessionKey: ekc.subarray(GCM_NONCE_LEN) },
  };
}

function readKey(t: ClearToken): Buffer | undefined {
  const k = t.h235Key;
  if (k?.type !== 'secureSharedSecret') return undefined;
  const v = k.value as { algorithmOID?: string; paramS: { iv?: Buffer }; encryptedSessionKey?: Buffer };
  if (v.algorithmOID !== AES256_GCM_OID || !v.paramS.iv || !v.encryptedSessionKey) return undefined;
  return Buffer.concat([v.paramS.iv, v.encryptedSessionKey]);
}

const up = (idc: string, idsp?: string): Partial<ClearToken> => ({ sendersID: idc, ...(idsp !== undefined ? { generalID: idsp } : {}) });
const down = (idc: string, idsp: string): Partial<ClearToken> => ({ sendersID: idsp, generalID: idc });
const token = (fields: Partial<ClearToken>): ClearToken => ({ tokenOID: KS_OID.ks1, ...fields });

// ---------------------------------------------------------------- encoders

export const s1Token = (s: S1): ClearToken => token({ timeStamp: s.ts, challenge: s.n1, ...up(s.idc, s.idsp) });
export const s2Token = (s: S2): ClearToken => token(up(s.idc, s.idsp));
export const s5Token = (s: S5): ClearToken => token({ challenge: s.rand, ...down(s.idc, s.idsp) });
export const s6Token = (s: S6): ClearToken =>
  token({ timeStamp: s.ts, challenge: s.rand, ...down(s.idc, s.idsp), profileInfo: [octets(EL.n1, s.n1), octets(EL.n2, s.n2), text(EL.offer, s.offered.text)] });
export const s7Token = (s: S7): ClearToken =>
  token({
    timeStamp: s.ts,
    challenge: s.n1,
    ...up(s.idc, s.idsp),
    profileInfo: [octets(EL.n2, s.n2), octets(EL.authenticator, s.authenticator), text(EL.mechs, s.mechs.text)],
  });
export const s8Token = (s: S8): ClearToken =>
  token({
    challenge: s.rand,
    ...up(s.idc, s.idsp),
    profileInfo: [octets(EL.authenticator, s.authenticator), ...(s.mech !== undefined ? [text(EL.mech, s.mech)] : []), ...(s.ipc ? [text(EL.ipc, s.ipc)] : [])],
  });
export const s9Token = (s: S9): ClearToken => token({ challenge: s.rand, ...down(s.idc, s.idsp), h235Key: keyField(s.ekc), profileInfo: [octets(EL.eksp, s.eksp)] });
export const s10Token = (s: S10): ClearToken =>
  token({
    timeStamp: s.ts,
    ...down(s.idc, s.idsp),
    h235Key: keyField(s.ekc),
    profileInfo: [octets(EL.n1, s.n1), octets(EL.n2, s.n2), text(EL.mechs, s.mechs), text(EL.mech, s.mech), octets(EL.mac, s.mac)],
  });
/** A refusal for want of a common mechanism: the offer, so that the terminal can see what would do. */
export const offerToken = (offer: string, idc: string, idsp: string): ClearToken => token({ ...down(idc, idsp), profileInfo: [text(EL.offer, offer)] });

// ---------------------------------------------------------------- decoders

/** Each decoder names the first missing or malformed field; the flow checks lengths and identities. */
export function readS1(t: ClearToken): Read<S1> {
  if (!t.sendersID) return { ok: false, field: 'idc' };
  if (!t.challenge) return { ok: false, field: 'n1' };
  if (t.timeStamp === undefined) return { ok: false, field: 'ts' };
  return { ok: true, value: { idc: t.sendersID, ...(t.generalID ? { idsp: t.generalID } : {}), n1: t.challenge, ts: t.timeStamp } };
}

export function readS2(t: ClearToken): Read<S2> {
  if (!t.sendersID) return { ok: false, field: 'idc' };
  if (!t.generalID) return { ok: false, field: 'idsp' };
  return { ok: true, value: { idc: t.sendersID, idsp: t.generalID } };
}

export function readS5(t: ClearToken): Read<S5> {
  if (!t.generalID) return { ok: false, field: 'idc' };
  if (!t.sendersID) return { ok: false, field: 'idsp' };
  if (!t.challenge) return { ok: false, field: 'rand' };
  return { ok: true, value: { idc: t.generalID, idsp: t.sendersID, rand: t.challenge } };
}

export function readS6(t: ClearToken): Read<S6> {
  const s5 = readS5(t);
  if (!s5.ok) return s5;
  const e = new Elements(t);
  const n1 = e.octets(EL.n1);
  const n2 = e.octets(EL.n2);
  const offered = mechs(e.text(EL.offer));
  if (!n1) return { ok: false, field: 'n1' };
  if (!n2) return { ok: false, field: 'n2' };
  if (t.timeStamp === undefined) return { ok: false, field: 'ts' };
  if (!offered) return { ok: false, field: 'offer' };
  return { ok: true, value: { ...s5.value, n1, n2, ts: t.timeStamp, offered } };
}

export function readS7(t: ClearToken): Read<S7> {
  if (!t.sendersID) return { ok: false, field: 'idc' };
  if (!t.challenge) return { ok: false, field: 'n1' };
  if (t.timeStamp === undefined) return { ok: false, field: 'ts' };
  const e = new Elements(t);
  const n2 = e.octets(EL.n2);
  const authenticator = e.octets(EL.authenticator);
  const list = mechs(e.text(EL.mechs));
  if (!n2) return { ok: false, field: 'n2' };
  if (!authenticator) return { ok: false, field: 'authenticator' };
  if (!list) return { ok: false, field: 'mechs' };
  return {
    ok: true,
    value: { idc: t.sendersID, ...(t.generalID ? { idsp: t.generalID } : {}), n1: t.challenge, n2, ts: t.timeStamp, authenticator, mechs: list },
  };
}

export function readS8(t: ClearToken): Read<S8> {
  if (!t.sendersID) return { ok: false, field: 'idc' };
  if (!t.generalID) return { ok: false, field: 'idsp' };
  if (!t.challenge) return { ok: false, field: 'rand' };
  const e = new Elements(t);
  const authenticator = e.octets(EL.authenticator);
  if (!authenticator) return { ok: false, field: 'authenticator' };
  const mech = e.text(EL.mech);
  const ipc = e.text(EL.ipc);
  return {
    ok: true,
    value: { idc: t.sendersID, idsp: t.generalID, rand: t.challenge, authenticator, ...(mech !== undefined ? { mech } : {}), ...(ipc !== undefined ? { ipc } : {}) },
  };
}

export function readS9(t: ClearToken): Read<S9> {
  const s5 = readS5(t);
  if (!s5.ok) return s5;
  const ekc = readKey(t);
  const eksp = new Elements(t).octets(EL.eksp);
  if (!ekc) return { ok: false, field: 'ekc' };
  if (!eksp) return { ok: false, field: 'eksp' };
  return { ok: true, value: { ...s5.value, ekc, eksp } };
}

export function readS10(t: ClearToken): Read<S10> {
  if (!t.generalID) return { ok: false, field: 'idc' };
  if (!t.sendersID) return { ok: false, field: 'idsp' };
  if (t.timeStamp === undefined) return { ok: false, field: 'ts' };
  const ekc = readKey(t);
  const e = new Elements(t);
  const n1 = e.octets(EL.n1);
  const n2 = e.octets(EL.n2);
  const list = e.text(EL.mechs);
  const mech = e.text(EL.mech);
  const mac = e.octets(EL.mac);
  if (!ekc) return { ok: false, field: 'ekc' };
  if (!n1) return { ok: false, field: 'n1' };
  if (!n2) return { ok: false, field: 'n2' };
  if (list === undefined) return { ok: false, field: 'mechs' };
  if (!mech) return { ok: false, field: 'mech' };
  if (!mac) return { ok: false, field: 'mac' };
  return { ok: true, value: { idc: t.generalID, idsp: t.sendersID, n1, n2, ts: t.timeStamp, ekc, mech, mechs: list, mac } };
}

/** What a token holds, so a receiver can tell the steps apart. */
export const tokenHas = {
  authenticator: (t: ClearToken): boolean => new Elements(t).has(EL.authenticator),
  n2: (t: ClearToken): boolean => new Elements(t).has(EL.n2),
  offer: (t: ClearToken): string | undefined => new Elements(t).text(EL.offer),
};

