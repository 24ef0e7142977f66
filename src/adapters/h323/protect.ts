/**
 * `app-hmac` for RAS after registration, in the H.235.1 style: a
 * cryptoHashedToken (tokenOID "A", all fields) whose hashedVals ClearToken
 * ("T") holds the time stamp, the app-hmac sequence number in `random`,
 * generalID (the receiver) and sendersID (the sender), and whose hash is
 *
 *   tag = appHmacTag(K_app, dir, seq, PER encoding of the whole message with the hash field zeroed)
 *
 * (src/crypto/app-hmac.ts: HMAC-SHA256 under HKDF(Kc,sp, "ks1 app-hmac"),
 * 128 bits kept, direction byte 0x01 terminal → SBC, 0x02 SBC → terminal).
 * The receiver checks the time stamp against its clock, the identities, the
 * tag over the octets it received (never a re-encoding), and the sequence
 * number in a 64-wide window that moves only after a tag verifies.
 */
import { tsWithin, unixSeconds } from '../../flow/index.js';
import { appHmacTag, type AppHmacVerdict, type AppHmacVerifier, type Direction } from '../../crypto/app-hmac.js';
import { OID, encodeRasWithPositions, zeroBits, type CryptoH323Token, type CryptoHashedToken, type Position, type RasMessage } from '../../h323/index.js';
import { KS_OID } from './oids.js';

export const APP_HMAC_BITS = 128;
/** The sequence number travels in RandomVal, which Wireshark reads as a signed 32-bit value. */
export const MAX_SEQ = 0x7fffffff;

/** H.235.1 OIDs, versions 1 and 2: "A" (all fields hashed), "T" (the ClearToken), "U" (HMAC-SHA1-96). */
export const H2351 = {
  allFields: [OID.h2351AllFields, '0.0.8.235.0.1.1'],
  clearToken: [OID.h2351ClearToken, '0.0.8.235.0.1.5'],
  hmacSha1_96: [OID.hmacSha1_96, '0.0.8.235.0.1.6'],
} as const;

type Secured = { cryptoTokens?: CryptoH323Token[] };

/** The first cryptoHashedToken of a message, with the kind its algorithm says. */
export function hashedToken(m: RasMessage): { token: CryptoHashedToken; kind: 'app-hmac' | 'h235.1' | 'other' } | undefined {
  const list = ((m as { value?: Secured }).value)?.cryptoTokens;
  for (const c of list ?? []) {
    if (c.type !== 'nestedcryptoToken' || (c.value as { type: string }).type !== 'cryptoHashedToken') continue;
    const token = (c.value as { value: CryptoHashedToken }).value;
    const alg = token.token.algorithmOID;
    const kind = alg === KS_OID.appHmac ? 'app-hmac' : (H2351.hmacSha1_96 as readonly string[]).includes(alg) ? 'h235.1' : 'other';
    return { token, kind };
  }
  return undefined;
}

export interface HashedFields {
  /** Whole seconds. */
  ts: number;
  /** RandomVal: the app-hmac sequence number, or H.235.1's random. */
  random: number;
  generalID?: string;
  sendersID?: string;
}

/** A cryptoHashedToken with a zero hash of `bits`, ready to be encoded and then filled. */
export function hashedTokenOf(algorithmOID: string, bits: number, f: HashedFields): CryptoH323Token {
  return {
    type: 'nestedcryptoToken',
    value: {
      type: 'cryptoHashedToken',
      value: {
        tokenOID: OID.h2351AllFields,
        hashedVals: {
          tokenOID: OID.h2351ClearToken,
          timeStamp: f.ts,
          random: BigInt(f.random),
          ...(f.generalID !== undefined ? { generalID: f.generalID } : {}),
          ...(f.sendersID !== undefined ? { sendersID: f.sendersID } : {}),
        },
        token: { algorithmOID, paramS: {}, hash: { data: Buffer.alloc(bits / 8), bitLength: bits } },
      },
    },
  };
}

/**
 * Encodes `m` with `token` appended to its cryptoTokens, computes the hash
 * over those octets (hash field zero) and writes it in place.
 */
export function encodeHashed(m: RasMessage, token: CryptoH323Token, hash: (zeroed: Buffer) => Buffer): Buffer {
  const value = (m as { value: Secured }).value;
  const msg = { ...m, value: { ...value, cryptoTokens: [...(value.cryptoTokens ?? []), token] } } as RasMessage;
  const hashValue = (token as { value: { value: CryptoHashedToken } }).value.value.token.hash;
  const enc = encodeRasWithPositions(msg);
  const pos = enc.positions.get(hashValue);
  if (!pos) throw new Error('hash position not reported');
  const out = enc.bytes;
  writeBits(out, pos, hash(out));
  return out;
}

function writeBits(out: Buffer, pos: Position, value: Buffer): void {
  for (let i = 0; i < pos.bitLength; i++) {
    const bit = (value[i >>> 3]! >>> (7 - (i & 7))) & 1;
    const at = pos.bitOffset + i;
    if (bit) out[at >>> 3] |= 0x80 >>> (at & 7);
    else out[at >>> 3] &= ~(0x80 >>> (at & 7)) & 0xff;
  }
}

/** The octets a received hash is verified over: the datagram with that hash zeroed; undefined if it cannot be located. */
export function zeroedFor(bytes: Buffer, locate: (v: object) => Position | undefined, token: CryptoHashedToken): Buffer | undefined {
  const pos = locate(token.token.hash);
  return pos ? zeroBits(bytes, pos) : undefined;
}

/** What signs one direction of an app-hmac session (K_app, the direction, the next sequence number). */
export interface RasSigner {
  kApp: Buffer;
  dir: Direction;
  next: number;
}

/** Encodes `m` protected by app-hmac; takes the signer's next sequence number. */
export function protect(m: RasMessage, s: RasSigner, ids: { sendersID: string; generalID: string }, nowMs: number): Buffer {
  const seq = s.next;
  if (seq > MAX_SEQ) throw new RangeError('app-hmac sequence exhausted: register again');
  s.next++;
  const token = hashedTokenOf(KS_OID.appHmac, APP_HMAC_BITS, { ts: unixSeconds(nowMs), random: seq, ...ids });
  return encodeHashed(m, token, (zeroed) => appHmacTag(s.kApp, s.dir, seq, zeroed));
}

export type ProtectVerdict = Exclude<AppHmacVerdict, 'ok'> | 'stale' | 'wrong-id';

/**
 * Checks an app-hmac protected message: its token, time stamp (±window),
 * identities, then the tag and the sequence number (verifier's window).
 */
export function verifyProtected(
  m: RasMessage,
  bytes: Buffer,
  locate: (v: object) => Position | undefined,
  verifier: AppHmacVerifier,
  expect: { sendersID: readonly string[]; generalID: string; nowMs: number; windowSec: number },
): 'ok' | ProtectVerdict {
  const found = hashedToken(m);
  if (!found || found.kind !== 'app-hmac') return 'missing';
  const t = found.token;
  const v = t.hashedVals;
  if (t.token.hash.bitLength !== APP_HMAC_BITS || v.timeStamp === undefined || v.random === undefined) return 'bad-tag';
  if (!tsWithin(expect.nowMs, v.timeStamp, expect.windowSec)) return 'stale';
  if (v.generalID !== expect.generalID || v.sendersID === undefined || !expect.sendersID.includes(v.sendersID)) return 'wrong-id';
  if (v.random < 1n || v.random > BigInt(MAX_SEQ)) return 'bad-tag';
  const zeroed = zeroedFor(bytes, locate, t);
  if (!zeroed) return 'bad-tag';
  const verdict = verifier.verify(Number(v.random), zeroed, t.token.hash.data);
  return verdict === 'ok' ? 'ok' : verdict;
}
