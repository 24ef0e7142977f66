/**
 * H.235.1 "baseline security" for plain H.323 endpoints: a cryptoHashedToken
 * ("A" all fields, hashedVals "T" with timeStamp, random, generalID,
 * sendersID) whose hash is HMAC-SHA1-96 ("U") over the PER encoding of the
 * whole message with the hash field zeroed, under K = SHA-1(password).
 * Versions 1 (0.0.8.235.0.1.x) and 2 (0.0.8.235.0.2.x) of the OIDs are read;
 * version 2 is sent.
 *
 * The receiver checks the time stamp window, then the hash over the octets
 * as received, and only after the hash verifies records (sender, timeStamp,
 * random): a seen triple is a replay. Recording before the hash would let
 * anyone burn the values a real endpoint is about to use.
 */
import { createHash, createHmac } from 'node:crypto';
import { equalBytes } from '../../crypto/ks1.js';
import { SeenNonces, tsWithin, unixSeconds } from '../../flow/index.js';
import { OID, type CryptoHashedToken, type Position, type RasMessage } from '../../h323/index.js';
import { H2351, encodeHashed, hashedToken, hashedTokenOf, zeroedFor } from './protect.js';

export const HMAC_SHA1_96_BITS = 96;

/** K = SHA-1(password as UTF-8): what the AuC hands the softswitch (hidden as HA1 is), never the password. */
export function h2351Key(password: string): Buffer {
  return createHash('sha1').update(password, 'utf8').digest();
}

export function hmacSha1_96(key: Buffer, data: Buffer): Buffer {
  return createHmac('sha1', key).update(data).digest().subarray(0, HMAC_SHA1_96_BITS / 8);
}

/** Encodes `m` with an H.235.1 token under `key`. */
export function signH2351(m: RasMessage, key: Buffer, f: { nowMs: number; random: number; generalID?: string; sendersID?: string }): Buffer {
  const token = hashedTokenOf(OID.hmacSha1_96, HMAC_SHA1_96_BITS, {
    ts: unixSeconds(f.nowMs),
    random: f.random,
    ...(f.generalID !== undefined ? { generalID: f.generalID } : {}),
    ...(f.sendersID !== undefined ? { sendersID: f.sendersID } : {}),
  });
  return encodeHashed(m, token, (zeroed) => hmacSha1_96(key, zeroed));
}

/** The H.235.1 token of a message, if it carries one in the form this profile defines. */
export function h2351Token(m: RasMessage): CryptoHashedToken | undefined {
  const found = hashedToken(m);
  if (!found || found.kind !== 'h235.1') return undefined;
  const t = found.token;
  if (!(H2351.allFields as readonly string[]).includes(t.tokenOID)) return undefined;
  if (!(H2351.clearToken as readonly string[]).includes(t.hashedVals.tokenOID)) return undefined;
  if (t.token.hash.bitLength !== HMAC_SHA1_96_BITS || t.hashedVals.timeStamp === undefined) return undefined;
  return t;
}

/** The hash of a received message, checked under `key` over the octets as received. */
export function h2351HashOk(bytes: Buffer, locate: (v: object) => Position | undefined, t: CryptoHashedToken, key: Buffer): boolean {
  const zeroed = zeroedFor(bytes, locate, t);
  // Always compute, so that a message whose hash cannot be located costs what any other does.
  const expected = hmacSha1_96(key, zeroed ?? bytes);
  return zeroed !== undefined && equalBytes(expected, t.token.hash.data);
}

export const tsFresh = (t: CryptoHashedToken, nowMs: number, windowSec: number): boolean => tsWithin(nowMs, t.hashedVals.timeStamp ?? -1, windowSec);

/** (sender, timeStamp, random) already accepted within the window. */
export class H2351Replay {
  readonly #seen: SeenNonces;
  constructor(
    readonly windowSec: number,
    max = 1_000_000,
  ) {
    this.#seen = new SeenNonces(max);
  }

  /** Records an accepted token; 'seen' for a replay, 'full' when the table is full of live entries. */
  record(sender: string, t: CryptoHashedToken, nowMs: number): 'fresh' | 'seen' | 'full' {
    const ts = t.hashedVals.timeStamp ?? 0;
    const key = createHash('sha256').update(`${sender}\0${ts}\0${t.hashedVals.random ?? ''}`).digest().subarray(0, 16);
    return this.#seen.check(key, (ts + this.windowSec + 1) * 1000, nowMs);
  }

  sweep(nowMs: number): void {
    this.#seen.sweep(nowMs);
  }

  get size(): number {
    return this.#seen.size;
  }
}
