import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { hmacSha256 } from './hmac.js';
import type { AuthVector } from '../contracts/auc.js';

/** Crypto suite ks1 (docs/design.md "Crypto suite ks1"). Everything here is pure and synchronous. */

export const KEY_LEN = 32; // Kc, Ksp, Kc,sp and every derived key
export const RAND_LEN = 16;
export const NONCE_LEN = 16; // N1, N2
export const AUTH_LEN = 16; // Authenticator_c
export const MAC_LEN = 16; // fm output
export const GCM_NONCE_LEN = 12;
export const GCM_TAG_LEN = 16;
/** E_K[Kc,sp] = nonce(12) || ciphertext(32) || tag(16). */
export const WRAPPED_LEN = GCM_NONCE_LEN + KEY_LEN + GCM_TAG_LEN;

const SUITE = Buffer.from('ks1', 'utf8');

export const INFO_AUTH = 'ks1 auth';
export const INFO_WRAP = 'ks1 wrap';
export const INFO_MAC = 'ks1 mac';
export const INFO_APP_HMAC = 'ks1 app-hmac';

function requireKey(key: Buffer): void {
  // The message names the rule, never the value.
  if (!Buffer.isBuffer(key) || key.length !== KEY_LEN) throw new RangeError(`ks1 keys are ${KEY_LEN} bytes`);
}

/** RFC 5869's empty salt: HashLen zero bytes. */
const ZERO_SALT = Buffer.alloc(32);
const BLOCK_1 = Buffer.from([1]);

/**
 * HKDF-SHA256 with an empty salt, 32-byte output. One output block is
 * PRK = HMAC(salt, key), OKM = HMAC(PRK, info || 0x01) (RFC 5869 §2.2-2.3),
 * written as two HMACs: half the CPU of `hkdfSync`, which builds a KeyObject
 * and a job per call (several derivations per registration at the AuC and
 * the SBC). test/crypto/hkdf.test.ts checks it against `hkdfSync`.
 */
export function hkdf32(key: Buffer, info: string): Buffer {
  const prk = extract(key);
  const okm = expand32(prk, info);
  prk.fill(0);
  return okm;
}

/**
 * Two keys from one input key: the extract step (PRK) depends on the key
 * alone, so it is made once and expanded for each info. Each output is
 * exactly `hkdf32(key, info)`; three HMACs instead of four, where a
 * registration derives two keys from one (K_auth and K_wrap from Kc at the
 * AuC; K_mac and K_app-hmac from Kc,sp at the SBC and the terminal).
 */
export function hkdf32Pair(key: Buffer, infoA: string, infoB: string): [Buffer, Buffer] {
  const prk = extract(key);
  const a = expand32(prk, infoA);
  const b = expand32(prk, infoB);
  prk.fill(0);
  return [a, b];
}

/** HKDF-Extract with the empty salt: PRK = HMAC(0^32, key). The caller zeroes the PRK. */
function extract(key: Buffer): Buffer {
  requireKey(key);
  return hmacSha256(ZERO_SALT, key);
}

/** HKDF-Expand to one 32-byte block: HMAC(PRK, info || 0x01). */
function expand32(prk: Buffer, info: string): Buffer {
  return hmacSha256(prk, info, BLOCK_1);
}

export const deriveAuthKey = (kc: Buffer): Buffer => hkdf32(kc, INFO_AUTH);
export const deriveWrapKey = (k: Buffer): Buffer => hkdf32(k, INFO_WRAP);
export const deriveMacKey = (kcsp: Buffer): Buffer => hkdf32(kcsp, INFO_MAC);
export const deriveAppHmacKey = (kcsp: Buffer): Buffer => hkdf32(kcsp, INFO_APP_HMAC);

/** Constant-time compare that is safe (returns false) when the lengths differ. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false; // lengths are public (fixed by the suite)
  return timingSafeEqual(a, b);
}

// ---------- base64url (unpadded) ----------

const B64U = /^[A-Za-z0-9_-]*$/;

export function toB64u(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/**
 * Strict unpadded base64url decode: rejects padding, foreign characters and
 * non-canonical trailing bits, so one value has exactly one text form (the MAC
 * covers values as sent). Returns undefined on bad input; with `len`, also
 * when the decoded length differs.
 */
export function fromB64u(text: string, len?: number): Buffer | undefined {
  if (typeof text !== 'string' || !B64U.test(text) || text.length % 4 === 1) return undefined;
  const out = Buffer.from(text, 'base64url');
  if (len !== undefined && out.length !== len) return undefined;
  if (out.toString('base64url') !== text) return undefined;
  return out;
}

// ---------- f: the terminal's authenticator ----------

/** Authenticator_c = first 16 bytes of HMAC-SHA256(K_auth, Rand || UTF-8(IDc)). */
export function authenticator(kAuth: Buffer, rand: Buffer, idc: string): Buffer {
  requireKey(kAuth);
  return hmacSha256(kAuth, rand, idc).subarray(0, AUTH_LEN);
}

/** f(Kc, Rand, IDc), deriving K_auth on the way; prefer `authenticator` with a K_auth kept per terminal. */
export function f(kc: Buffer, rand: Buffer, idc: string): Buffer {
  return authenticator(deriveAuthKey(kc), rand, idc);
}

// ---------- E / D: wrapping Kc,sp ----------

export interface WrapBinding {
  idc: string;
  idsp: string;
  rand: Buffer;
}

/** AAD = UTF-8 "ks1" || UTF-8 IDc || UTF-8 IDsp || Rand. */
export function wrapAad(b: WrapBinding): Buffer {
  return Buffer.concat([SUITE, Buffer.from(b.idc, 'utf8'), Buffer.from(b.idsp, 'utf8'), b.rand]);
}

/**
 * K_wrap as a KeyObject for createCipheriv. Node 24 tells a Buffer key from a
 * KeyObject or CryptoKey by two brand checks that each throw and catch on a
 * Buffer: 15.2 µs per AES-GCM seal against 5.6 with a KeyObject made here
 * (Node 20: 3.1 against 5.3). The copy is zeroed when the KeyObject is freed.
 */
function gcmKey(kWrap: Buffer | KeyObject): KeyObject {
  return Buffer.isBuffer(kWrap) ? createSecretKey(kWrap) : kWrap;
}

/**
 * K_wrap made once into the KeyObject its seals and opens take, for a key
 * that serves many registrations (an SBC's, from its Ksp): no KeyObject per
 * registration. The SBC had opened every E_Ksp with one made anew.
 */
export function prepareWrapKey(kWrap: Buffer): KeyObject {
  requireKey(kWrap);
  return createSecretKey(kWrap);
}

/** E_K[Kc,sp] with K_wrap already derived. `nonce`, when given, must be fresh and random (or a test vector's); omit it to draw one here. */
export function wrapWith(kWrap: Buffer | KeyObject, kcsp: Buffer, b: WrapBinding, nonce?: Buffer): Buffer {
  if (Buffer.isBuffer(kWrap)) requireKey(kWrap);
  requireKey(kcsp);
  const iv = nonce ?? randomBytes(GCM_NONCE_LEN);
  if (iv.length !== GCM_NONCE_LEN) throw new RangeError(`ks1 wrap nonce is ${GCM_NONCE_LEN} bytes`);
  const c = createCipheriv('aes-256-gcm', gcmKey(kWrap), iv, { authTagLength: GCM_TAG_LEN });
  c.setAAD(wrapAad(b));
  const ct = c.update(kcsp);
  c.final();
  return Buffer.concat([iv, ct, c.getAuthTag()]);
}

/** E_K[Kc,sp] from the long-term key K (Kc or Ksp). */
export function wrap(k: Buffer, kcsp: Buffer, b: WrapBinding, nonce?: Buffer): Buffer {
  return wrapWith(deriveWrapKey(k), kcsp, b, nonce);
}

/** D: Kc,sp, or undefined when the value is malformed, forged, or bound to another IDc/IDsp/Rand. */
export function unwrapWith(kWrap: Buffer | KeyObject, wrapped: Buffer, b: WrapBinding): Buffer | undefined {
  if (Buffer.isBuffer(kWrap)) requireKey(kWrap);
  if (!Buffer.isBuffer(wrapped) || wrapped.length !== WRAPPED_LEN) return undefined;
  try {
    const d = createDecipheriv('aes-256-gcm', gcmKey(kWrap), wrapped.subarray(0, GCM_NONCE_LEN), { authTagLength: GCM_TAG_LEN });
    d.setAAD(wrapAad(b));
    d.setAuthTag(wrapped.subarray(WRAPPED_LEN - GCM_TAG_LEN));
    const pt = d.update(wrapped.subarray(GCM_NONCE_LEN, WRAPPED_LEN - GCM_TAG_LEN));
    d.final();
    return pt;
  } catch {
    return undefined;
  }
}

export function unwrap(k: Buffer, wrapped: Buffer, b: WrapBinding): Buffer | undefined {
  return unwrapWith(deriveWrapKey(k), wrapped, b);
}

// ---------- fm: the s10 MAC ----------

/** The s10 fields covered by the MAC, as sent. */
export interface S10Fields {
  idc: string;
  idsp: string;
  n1: Buffer;
  n2: Buffer;
  ts: number;
  ekc: Buffer;
  mech: string;
  /** The terminal's mechanism list; white space is removed here. */
  mechs: string;
}

const LINE_BREAK = /[\r\n]/;
const WHITE = /[ \t\r\n]+/g;

/** Removes white space from a mechanism list, as canonical(s10) and the `mechs` parameter carry it. */
export function compactMechs(text: string): string {
  return text.replace(WHITE, '');
}

/**
 * canonical(s10): `name=value\n` lines in the table's order. A line break
 * inside a value would let two different field sets share one text, so it
 * is refused.
 */
export function canonicalS10(x: S10Fields): string {
  for (const v of [x.idc, x.idsp, x.mech]) {
    if (typeof v !== 'string' || LINE_BREAK.test(v)) throw new RangeError('s10 text fields must not contain line breaks');
  }
  if (!Number.isSafeInteger(x.ts) || x.ts < 0) throw new RangeError('s10 ts must be a non-negative integer');
  return (
    `idc=${x.idc}\n` +
    `idsp=${x.idsp}\n` +
    `n1=${toB64u(x.n1)}\n` +
    `n2=${toB64u(x.n2)}\n` +
    `ts=${x.ts}\n` +
    `ekc=${toB64u(x.ekc)}\n` +
    `mech=${x.mech}\n` +
    `mechs=${compactMechs(x.mechs)}\n`
  );
}

/** MAC = first 16 bytes of HMAC-SHA256(K_mac, canonical). */
export function macWith(kMac: Buffer, canonical: string): Buffer {
  requireKey(kMac);
  return hmacSha256(kMac, canonical).subarray(0, MAC_LEN);
}

/** fm(Kc,sp, s10). */
export function fm(kcsp: Buffer, fields: S10Fields): Buffer {
  return macWith(deriveMacKey(kcsp), canonicalS10(fields));
}

// ---------- per-registration keys ----------

const HIDDEN = Symbol.for('nodejs.util.inspect.custom');

/**
 * Kc,sp and the keys derived from it, derived once per registration. One
 * backing buffer keeps a registered terminal's key material small.
 */
export class SessionKeys {
  /** Kc,sp itself (the tls-psk pre-shared key). */
  readonly sessionKey: Buffer;
  readonly kMac: Buffer;
  readonly kAppHmac: Buffer;

  constructor(kcsp: Buffer) {
    requireKey(kcsp);
    // Its own allocation, not a slice of Node's shared 8 KiB pool: these keys live as long as the
    // registration, and a pooled slice would pin the whole pool slab (and its other contents) with them.
    const all = Buffer.alloc(3 * KEY_LEN);
    kcsp.copy(all, 0);
    const [kMac, kAppHmac] = hkdf32Pair(kcsp, INFO_MAC, INFO_APP_HMAC);
    kMac.copy(all, KEY_LEN);
    kAppHmac.copy(all, 2 * KEY_LEN);
    kMac.fill(0);
    kAppHmac.fill(0);
    this.sessionKey = all.subarray(0, KEY_LEN);
    this.kMac = all.subarray(KEY_LEN, 2 * KEY_LEN);
    this.kAppHmac = all.subarray(2 * KEY_LEN, 3 * KEY_LEN);
  }

  toJSON(): string {
    return '[SessionKeys]';
  }
  [HIDDEN](): string {
    return '[SessionKeys]';
  }
}

/** A terminal's long-term key with its derived keys, derived once per terminal. */
export class TerminalKeys {
  readonly kAuth: Buffer;
  readonly kWrap: Buffer;
  constructor(kc: Buffer) {
    [this.kAuth, this.kWrap] = hkdf32Pair(kc, INFO_AUTH, INFO_WRAP);
  }
  toJSON(): string {
    return '[TerminalKeys]';
  }
  [HIDDEN](): string {
    return '[TerminalKeys]';
  }
}

// ---------- the AuC's vector ----------

export type MakeVectorInput = MakeVectorFields & (
  | { ksp: Buffer; kWrapSp?: undefined }
  /** K_wrap of Ksp made once (prepareWrapKey) for an SBC whose key serves many vectors. */
  | { kWrapSp: KeyObject; ksp?: undefined }
);

interface MakeVectorFields {
  kc: Buffer;
  idc: string;
  idsp: string;
  rand: Buffer;
  /** Kc,sp, fresh for this challenge. */
  sessionKey: Buffer;
  /** GCM nonces: fresh random ones drawn by the caller (the AuC draws all of a vector's at once), or fixed for test vectors; absent, drawn here. */
  nonceKc?: Buffer;
  nonceKsp?: Buffer;
}

/** s4 without its expiry (the AuC adds `expiresAt`). */
export function makeVector(x: MakeVectorInput): Omit<AuthVector, 'expiresAt'> {
  if (x.rand.length !== RAND_LEN) throw new RangeError(`ks1 Rand is ${RAND_LEN} bytes`);
  const binding: WrapBinding = { idc: x.idc, idsp: x.idsp, rand: x.rand };
  // K_auth and K_wrap of Kc from one extract step (hkdf32Pair), zeroed once used
  const [kAuth, kWrapC] = hkdf32Pair(x.kc, INFO_AUTH, INFO_WRAP);
  const v = {
    idc: x.idc,
    idsp: x.idsp,
    rand: x.rand,
    authenticator: authenticator(kAuth, x.rand, x.idc),
    ekc: wrapWith(kWrapC, x.sessionKey, binding, x.nonceKc),
    eksp: x.kWrapSp ? wrapWith(x.kWrapSp, x.sessionKey, binding, x.nonceKsp) : wrap(x.ksp, x.sessionKey, binding, x.nonceKsp),
  };
  kAuth.fill(0);
  kWrapC.fill(0);
  return v;
}

/** docs/design.md's names for wrap and unwrap. */
export const E = wrap;
export const D = unwrap;
