/**
 * SIP Digest for phones that do not know KS1 (RFC 2617, RFC 7616, RFC 8760):
 * SHA-256 and MD5, qop=auth only. The nonce is self-validating (time and
 * random under an HMAC with a per-process secret), so issuing one costs no
 * state; state is kept only for nonces in use, to refuse a repeated
 * nonce-count. HA1 comes from the AuC: the password never reaches the
 * softswitch.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { DigestAlgorithm } from '../auc/service.js';

export interface DigestOptions {
  realm: string;
  /** A nonce older than this gets `stale=true`. */
  nonceTtlSec?: number;
  /** Nonces tracked for nonce-count; when full, new ones are refused (busy). */
  maxNonces?: number;
  /** Nonces tracked per identity. */
  noncesPerIdentity?: number;
  clock?: () => number;
  /** Tests fix it; otherwise random per process. */
  secret?: Buffer;
  /**
   * Challenges offered, most preferred first (RFC 7616 §3.7). Default
   * SHA-256 then MD5. Some clients (sipp 3.6) read only the first challenge
   * and know only MD5: `['MD5', 'SHA-256']` or `['MD5']` lets them in.
   */
  algorithms?: DigestAlgorithm[];
}

/** A Digest Authorization as the phone sent it (parameter names lower-case, values unquoted). */
export type DigestParams = Record<string, string>;

export type DigestCheck =
  /** Well-formed and fresh: ask the AuC for HA1, then `verify`. */
  | { ok: true; algorithm: DigestAlgorithm; username: string; nonce: string; nc: number }
  /** Our nonce but too old, or not ours, or its nonce-count already used: a new challenge. */
  | { ok: false; kind: 'stale' | 'unknown-nonce' | 'nc-replayed' | 'busy' }
  /** A parameter is missing or malformed (400 naming it). */
  | { ok: false; kind: 'bad-request'; field: string }
  /** Not what we offered (another realm, qop, algorithm, or the username of someone else): a new challenge. */
  | { ok: false; kind: 'mismatch'; field: string };

const NONCE_RAW = 8 + 8 + 16; // ms time, random, tag
const NC = /^[0-9a-fA-F]{8}$/;
const ALGORITHMS: Record<string, DigestAlgorithm> = { md5: 'MD5', 'sha-256': 'SHA-256' };

function hashOf(alg: DigestAlgorithm): 'md5' | 'sha256' {
  return alg === 'SHA-256' ? 'sha256' : 'md5';
}

export function digestHex(alg: DigestAlgorithm, text: string): string {
  return createHash(hashOf(alg)).update(text, 'utf8').digest('hex');
}

/** RFC 7616 §3.4.1 with qop=auth. */
export function digestResponse(alg: DigestAlgorithm, ha1: string, p: { nonce: string; nc: string; cnonce: string; method: string; uri: string }): string {
  const ha2 = digestHex(alg, `${p.method}:${p.uri}`);
  return digestHex(alg, `${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:auth:${ha2}`);
}

export class DigestAuth {
  readonly realm: string;
  readonly opaque: string;
  readonly algorithms: readonly DigestAlgorithm[];
  readonly #secret: Buffer;
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #clock: () => number;
  /** nonce → highest nonce-count accepted, with the nonce's expiry. Insertion order ≈ expiry order. */
  readonly #used = new Map<string, { nc: number; expiresAt: number }>();

  constructor(o: DigestOptions) {
    this.realm = o.realm;
    this.#secret = o.secret ?? randomBytes(32);
    this.#ttlMs = (o.nonceTtlSec ?? 300) * 1000;
    this.#max = o.maxNonces ?? 200_000;
    this.#clock = o.clock ?? Date.now;
    this.algorithms = o.algorithms ?? ['SHA-256', 'MD5'];
    if (this.algorithms.length === 0 || this.algorithms.some((a) => a !== 'MD5' && a !== 'SHA-256')) throw new RangeError('Digest algorithms: MD5 and/or SHA-256');
    this.opaque = createHmac('sha256', this.#secret).update('opaque').digest().subarray(0, 12).toString('base64url');
  }

  get trackedNonces(): number {
    return this.#used.size;
  }

  newNonce(): string {
    const raw = Buffer.alloc(NONCE_RAW);
    raw.writeBigUInt64BE(BigInt(this.#clock()), 0);
    randomBytes(8).copy(raw, 8);
    this.#tag(raw.subarray(0, 16)).copy(raw, 16);
    return raw.toString('base64url');
  }

  #tag(head: Buffer): Buffer {
    return createHmac('sha256', this.#secret).update(head).digest().subarray(0, 16);
  }

  /** Issue time of one of our nonces, or undefined when it is not ours. */
  #issuedAt(nonce: string): number | undefined {
    if (nonce.length !== Math.ceil((NONCE_RAW * 4) / 3)) return undefined;
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== NONCE_RAW || raw.toString('base64url') !== nonce) return undefined;
    if (!timingSafeEqual(this.#tag(raw.subarray(0, 16)), raw.subarray(16))) return undefined;
    return Number(raw.readBigUInt64BE(0));
  }

  /** The WWW-Authenticate values in order of preference (default SHA-256, then MD5). */
  challenges(stale = false): Array<{ scheme: 'Digest'; params: Record<string, string> }> {
    const nonce = this.newNonce();
    return this.algorithms.map((algorithm) => {
      const params: Record<string, string> = { realm: this.realm, nonce, opaque: this.opaque, algorithm, qop: 'auth' };
      if (stale) params.stale = 'true';
      return { scheme: 'Digest', params };
    });
  }

  /**
   * Shape, realm, nonce freshness and nonce-count, before the AuC is asked.
   * `idc` is the To AoR. `requestUri` undefined skips the digest-uri check
   * (a trusted SBC may have rewritten the Request-URI; the response still
   * covers the uri the phone signed).
   */
  check(p: DigestParams, idc: string, requestUri: string | undefined): DigestCheck {
    for (const f of ['username', 'realm', 'nonce', 'uri', 'response']) if (!p[f]) return { ok: false, kind: 'bad-request', field: f };
    const alg = ALGORITHMS[(p.algorithm ?? 'MD5').toLowerCase()];
    if (!alg || !this.algorithms.includes(alg)) return { ok: false, kind: 'mismatch', field: 'algorithm' };
    if (p.realm !== this.realm) return { ok: false, kind: 'mismatch', field: 'realm' };
    if (p.qop === undefined) return { ok: false, kind: 'mismatch', field: 'qop' };
    if (p.qop.toLowerCase() !== 'auth') return { ok: false, kind: 'mismatch', field: 'qop' };
    if (!p.cnonce) return { ok: false, kind: 'bad-request', field: 'cnonce' };
    if (!p.nc || !NC.test(p.nc)) return { ok: false, kind: 'bad-request', field: 'nc' };
    if (p.opaque !== undefined && p.opaque !== this.opaque) return { ok: false, kind: 'mismatch', field: 'opaque' };
    const hexLen = alg === 'SHA-256' ? 64 : 32;
    if (p.response.length !== hexLen || !/^[0-9a-fA-F]+$/.test(p.response)) return { ok: false, kind: 'bad-request', field: 'response' };
    if (requestUri !== undefined && p.uri !== requestUri) return { ok: false, kind: 'bad-request', field: 'uri' };
    const userPart = idc.slice(0, idc.lastIndexOf('@'));
    if (p.username !== idc && p.username !== userPart) return { ok: false, kind: 'mismatch', field: 'username' };
    const issued = this.#issuedAt(p.nonce);
    if (issued === undefined) return { ok: false, kind: 'unknown-nonce' };
    const now = this.#clock();
    if (now - issued > this.#ttlMs || issued > now + 5000) return { ok: false, kind: 'stale' };
    const nc = parseInt(p.nc, 16);
    const seen = this.#used.get(p.nonce);
    if (seen && nc <= seen.nc) return { ok: false, kind: 'nc-replayed' };
    if (!seen && this.#used.size >= this.#max) {
      this.sweep();
      if (this.#used.size >= this.#max) return { ok: false, kind: 'busy' };
    }
    return { ok: true, algorithm: alg, username: p.username, nonce: p.nonce, nc };
  }

  /**
   * Compares the response under HA1 and spends the nonce-count whether or
   * not it matches (one guess per nonce-count).
   */
  verify(c: { nonce: string; nc: number }, p: DigestParams, method: string, alg: DigestAlgorithm, ha1: string): boolean {
    const issued = this.#issuedAt(c.nonce) ?? this.#clock();
    const seen = this.#used.get(c.nonce);
    if (seen && c.nc <= seen.nc) return false;
    if (seen) seen.nc = c.nc;
    // the key must be its own string: the parsed nonce is a view on the whole REGISTER's
    // text, which it would keep alive for the nonce lifetime (~700 bytes per Digest REGISTER)
    else this.#used.set(Buffer.from(c.nonce, 'latin1').toString('latin1'), { nc: c.nc, expiresAt: issued + this.#ttlMs });
    this.#prune(4);
    const expected = Buffer.from(digestResponse(alg, ha1.toLowerCase(), { nonce: c.nonce, nc: p.nc!, cnonce: p.cnonce!, method, uri: p.uri! }), 'latin1');
    const got = Buffer.from(p.response!.toLowerCase(), 'latin1');
    return got.length === expected.length && timingSafeEqual(got, expected);
  }

  #prune(n: number): void {
    const now = this.#clock();
    for (const [k, v] of this.#used) {
      if (n-- <= 0 || v.expiresAt > now) break;
      this.#used.delete(k);
    }
  }

  /** Forgets expired nonces (their nonce-counts no longer matter: they are stale). */
  sweep(): void {
    const now = this.#clock();
    for (const [k, v] of this.#used) if (v.expiresAt <= now) this.#used.delete(k);
  }
}
