/**
 * SIP Digest for phones that do not know KS1 (RFC 2617, RFC 7616, RFC 8760):
 * SHA-256 and MD5, qop=auth only. The nonce is self-validating and opaque:
 * its issue time enciphered under a per-process key with a random mask and
 * checked redundancy (docs/softswitch.md, "Digest nonce"), so issuing one
 * costs no state and it tells nobody the server's clock. State is kept
 * only for nonces that authenticated someone, per identity and bounded, to
 * refuse a repeated nonce-count. HA1 comes from the AuC: the password never
 * reaches the softswitch.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual, type Cipher, type Decipher } from 'node:crypto';
import { hexHash } from '../crypto/one-shot.js';
import type { DigestAlgorithm } from '../contracts/auc.js';
import { randomWireBytes } from '../crypto/random-pool.js';
import { formatAuth } from '../sip/index.js';

export interface DigestOptions {
  realm: string;
  /** A nonce older than this gets `stale=true`. */
  nonceTtlSec?: number;
  /**
   * Nonces in use tracked for their nonce-count, overall (default 200,000)
   * and per identity (default 8). Past either bound the oldest is retired:
   * its identity refuses it, and any older nonce, as stale from then on.
   */
  maxNonces?: number;
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
  /**
   * Nonce-counts shared by several softswitch instances (Redis): used instead
   * of this process's table, so that a nonce issued by one instance and
   * answered at another works, and a replayed nonce-count is refused at any.
   * The instances must then share `secret` too (docs/scale-out.md).
   */
  nonceCounts?: NonceCountStore;
}

/** The nonce-count replay table when several instances share it. */
export interface NonceCountStore {
  /** Records `nc` as the highest count of (idc, nonce) for `ttlMs`; false when one as high was recorded already (atomic). */
  record(idc: string, nonce: string, nc: number, ttlMs: number): Promise<boolean>;
  /** Resolves once `since` is known for the connection now open (it is read again after each reconnection). */
  current(): Promise<void>;
  /**
   * Since when the table holds every count used (ms). A table that lost its
   * data (a restart without persistence, a failover to a replica that
   * lagged) starts a new epoch: nonces issued before it are refused as stale,
   * since their used counts may be forgotten.
   */
  readonly since: number;
}

/**
 * What a response came to: `replayed` when it matched but its nonce-count was
 * used already, `stale` when its nonce predates the shared table's epoch (both
 * a new challenge, no failure).
 */
export type DigestSettled = 'ok' | 'bad' | 'replayed' | 'stale';

/** Digest's secret when several softswitch instances must issue and open each other's nonces: derived from a key they all hold. */
export function sharedDigestSecret(key: Buffer): Buffer {
  return createHmac('sha256', key).update('keyswitch digest secret v1').digest();
}

/** A Digest Authorization as the phone sent it (parameter names lower-case, values unquoted). */
export type DigestParams = Record<string, string>;

export type DigestCheck =
  /**
   * Well-formed and fresh: ask the AuC for HA1, then `verify`. `idc` is the identity the nonce-count is kept under;
   * `issued` and `serial` are what the nonce sealed (so that `verify` and `settle` need not open it again).
   */
  | { ok: true; algorithm: DigestAlgorithm; username: string; nonce: string; nc: number; idc: string; issued: number; serial: number }
  /** Our nonce but too old (or retired), or not ours, or its nonce-count already used: a new challenge. */
  | { ok: false; kind: 'stale' | 'unknown-nonce' | 'nc-replayed' }
  /** A parameter is missing or malformed (400 naming it). */
  | { ok: false; kind: 'bad-request'; field: string }
  /** Not what we offered (another realm, qop, algorithm, or the username of someone else): a new challenge. */
  | { ok: false; kind: 'mismatch'; field: string };

// v3 (issued): AES-256(R) ‖ AES-256(R ⊕ P), two blocks under one key, 43 base64url characters.
// R: 16 random bytes, first bit 0. P: V3_MARK (4 bytes, first bit 1) ‖ issue time in ms ‖ serial (6 bytes BE each).
// The first bit keeps the two blocks' inputs apart (a nonce with its blocks swapped does not open); the mark
// and the time window are the redundancy a forged or altered nonce fails (docs/softswitch.md, "Digest nonce").
// The serial orders nonces issued within one millisecond (retirement marks compare it).
const BLOCK = 16;
const V3_RAW = 2 * BLOCK;
const V3_CHARS = Math.ceil((V3_RAW * 4) / 3);
const V3_MARK = 0x8076_3301;
const V3_KEY_LABEL = 'digest nonce key v3';
// v2 (opened only, so that nonces issued before the upgrade under a shared secret still work until they expire):
// IV ‖ AES-256-GCM(issue time in ms ‖ serial, 8 bytes BE each) ‖ tag, 59 characters.
const IV_LEN = 12;
const TIME_LEN = 16;
const TAG_LEN = 16;
const V2_RAW = IV_LEN + TIME_LEN + TAG_LEN;
const V2_CHARS = Math.ceil((V2_RAW * 4) / 3);
const V2_AAD = Buffer.from('keyswitch digest nonce v2');
const TWO_32 = 2 ** 32;
/** Stands for the nonce while a challenge's text is formatted once (base64url, as a nonce: quoted the same way). */
const NONCE_SLOT = 'NONCE-SLOT-0123456789abcdefghijklmnopqrstuv';
/**
 * Expired nonces leave from the table's front at most this often, not on every insert: a Map keeps a
 * deleted entry's slot until it next grows, and iteration walks those holes, so a walk per insert
 * crossed every nonce retired or pruned since (each identity's ninth nonce retires its first).
 */
const PRUNE_EVERY_MS = 100;
const NC = /^[0-9a-fA-F]{8}$/;
const ALGORITHMS: Record<string, DigestAlgorithm> = { md5: 'MD5', 'sha-256': 'SHA-256' };
const REQUIRED = ['username', 'realm', 'nonce', 'uri', 'response'] as const;

function hashOf(alg: DigestAlgorithm): 'md5' | 'sha256' {
  return alg === 'SHA-256' ? 'sha256' : 'md5';
}

export function digestHex(alg: DigestAlgorithm, text: string): string {
  return hexHash(hashOf(alg), text);
}

/** RFC 7616 §3.4.1 with qop=auth. */
export function digestResponse(alg: DigestAlgorithm, ha1: string, p: { nonce: string; nc: string; cnonce: string; method: string; uri: string }): string {
  return responseFromHa2(alg, ha1, p.nonce, p.nc, p.cnonce, digestHex(alg, `${p.method}:${p.uri}`));
}

/** The response's outer hash, given HA2 (method:uri) already hashed. */
function responseFromHa2(alg: DigestAlgorithm, ha1: string, nonce: string, nc: string, cnonce: string, ha2: string): string {
  return digestHex(alg, `${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
}

/** What `verify` and `settle` take: a check's result (a nonce opened by `check`), or just the nonce, count and identity. */
export interface DigestCandidate {
  nonce: string;
  nc: number;
  idc: string;
  /** From `check`: the nonce's issue time and serial; when absent the nonce is opened again. */
  issued?: number;
  serial?: number;
}

/** A nonce that authenticated someone: the highest nonce-count accepted, until the nonce expires. */
interface Tracked {
  idc: string;
  nc: number;
  /** The nonce's serial (issue order in this process). */
  serial: number;
  expiresAt: number;
}

/** One identity's tracked nonces (keys of the table, oldest first) and its retirement mark. */
interface IdentityNonces {
  /** The IDc, an own copy. */
  idc: string;
  keys: string[];
  /** Nonces of this identity with a serial up to this are refused as stale... */
  floor: number;
  /** ...until then, when every one of them has expired anyway. */
  floorUntil: number;
}

export class DigestAuth {
  readonly realm: string;
  readonly opaque: string;
  readonly algorithms: readonly DigestAlgorithm[];
  readonly #secret: Buffer;
  /** v2's key: nonces of the GCM layout are still opened (V2_CHARS), never issued. */
  readonly #v2Key: Buffer;
  /** AES-256 in ECB mode, padding off, fed whole blocks only: each update is the block cipher on those blocks, no state carried. */
  readonly #encipher: Cipher;
  readonly #decipher: Decipher;
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #perIdentity: number;
  readonly #clock: () => number;
  readonly #shared: NonceCountStore | undefined;
  #serial = 0;
  /** The last HA2 computed: phones of one realm sign the same `REGISTER:uri`. */
  readonly #ha2 = { alg: '', method: '', uri: '', value: '' };
  #nextPrune = -Infinity;
  /** The challenges' text before and after the nonce, per algorithm offered; [0] without stale, [1] with. */
  readonly #templates: [Array<[string, string]>, Array<[string, string]>] = [[], []];
  /**
   * `IDc \n nonce` → its record, in insertion order (≈ expiry order). Only a
   * nonce whose response verified goes in: a failed guess costs no memory, so
   * nobody can fill this table without the passwords of many identities.
   */
  readonly #table = new Map<string, Tracked>();
  readonly #byIdentity = new Map<string, IdentityNonces>();

  constructor(o: DigestOptions) {
    this.realm = o.realm;
    this.#secret = o.secret ?? randomBytes(32);
    this.#v2Key = createHmac('sha256', this.#secret).update('nonce key').digest();
    const key = createHmac('sha256', this.#secret).update(V3_KEY_LABEL).digest();
    this.#encipher = createCipheriv('aes-256-ecb', key, null).setAutoPadding(false);
    this.#decipher = createDecipheriv('aes-256-ecb', key, null).setAutoPadding(false);
    key.fill(0);
    this.#ttlMs = (o.nonceTtlSec ?? 300) * 1000;
    this.#max = o.maxNonces ?? 200_000;
    this.#perIdentity = o.noncesPerIdentity ?? 8;
    if (!(this.#max >= 1 && this.#perIdentity >= 1)) throw new RangeError('Digest nonce bounds must be at least 1');
    this.#clock = o.clock ?? Date.now;
    this.#shared = o.nonceCounts;
    this.algorithms = o.algorithms ?? ['SHA-256', 'MD5'];
    if (this.algorithms.length === 0 || this.algorithms.some((a) => a !== 'MD5' && a !== 'SHA-256')) throw new RangeError('Digest algorithms: MD5 and/or SHA-256');
    this.opaque = createHmac('sha256', this.#secret).update('opaque').digest().subarray(0, 12).toString('base64url');
  }

  get trackedNonces(): number {
    return this.#table.size;
  }

  /** Identities with tracked nonces or a live retirement mark. */
  get trackedIdentities(): number {
    return this.#byIdentity.size;
  }

  newNonce(): string {
    // one buffer: R, then P masked with R; enciphered in one call (two AES blocks, no cipher object made).
    // R is a one-time mask, not a key: drawn from the wire pool like the v2 IV it replaces.
    const b = randomWireBytes(V3_RAW);
    b[0]! &= 0x7f;
    b.writeUInt32BE(V3_MARK, BLOCK);
    b.writeUIntBE(this.#clock(), BLOCK + 4, 6);
    b.writeUIntBE(++this.#serial, BLOCK + 10, 6);
    for (let i = 0; i < BLOCK; i++) b[BLOCK + i]! ^= b[i]!;
    return this.#encipher.update(b).toString('base64url');
  }

  /** Issue time and serial of one of our nonces, or undefined when it is not ours (or forged, or altered). */
  #opened(nonce: string): { issued: number; serial: number } | undefined {
    if (nonce.length === V2_CHARS) return this.#openedV2(nonce);
    if (nonce.length !== V3_CHARS) return undefined;
    const raw = Buffer.from(nonce, 'base64url');
    // canonical text only: the nonce-count table is keyed by it
    if (raw.length !== V3_RAW || raw.toString('base64url') !== nonce) return undefined;
    const b = this.#decipher.update(raw);
    if (b[0]! & 0x80) return undefined;
    for (let i = 0; i < BLOCK; i++) b[BLOCK + i]! ^= b[i]!;
    if (b.readUInt32BE(BLOCK) !== V3_MARK) return undefined;
    return { issued: b.readUIntBE(BLOCK + 4, 6), serial: b.readUIntBE(BLOCK + 10, 6) };
  }

  #openedV2(nonce: string): { issued: number; serial: number } | undefined {
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== V2_RAW || raw.toString('base64url') !== nonce) return undefined;
    const d = createDecipheriv('aes-256-gcm', this.#v2Key, raw.subarray(0, IV_LEN), { authTagLength: TAG_LEN });
    d.setAAD(V2_AAD);
    d.setAuthTag(raw.subarray(IV_LEN + TIME_LEN));
    try {
      const time = d.update(raw.subarray(IV_LEN, IV_LEN + TIME_LEN));
      d.final();
      return { issued: readUint64(time, 0), serial: readUint64(time, 8) };
    } catch {
      return undefined;
    }
  }

  /**
   * What the response is compared with when the AuC refused the identity
   * (unknown, disabled, locked, no SIP password): a value no password gives,
   * fixed per identity, so that identity fails the way a wrong password does.
   */
  decoyHa1(alg: DigestAlgorithm, idc: string): string {
    const h = createHmac('sha256', this.#secret).update(`decoy ha1\0${alg}\0${idc}`).digest('hex');
    return alg === 'SHA-256' ? h : h.slice(0, 32);
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
   * The WWW-Authenticate (or Proxy-Authenticate) values of `challenges`, as
   * formatAuth writes them, with one new nonce: each is formatted once, then
   * only the nonce is put in.
   */
  challengeValues(stale = false): string[] {
    const nonce = this.newNonce();
    const t = this.#templates[stale ? 1 : 0];
    if (t.length === 0) {
      for (const c of this.challenges(stale)) {
        const text = formatAuth(c.scheme, { ...c.params, nonce: NONCE_SLOT });
        const at = text.indexOf(NONCE_SLOT);
        t.push([text.slice(0, at), text.slice(at + NONCE_SLOT.length)]);
      }
    }
    return t.map(([before, after]) => before + nonce + after);
  }

  /**
   * Shape, realm, nonce freshness and nonce-count, before the AuC is asked.
   * `idc` is the To AoR. `requestUri` undefined skips the digest-uri check
   * (a trusted SBC may have rewritten the Request-URI; the response still
   * covers the uri the phone signed).
   */
  check(p: DigestParams, idc: string, requestUri: string | undefined): DigestCheck {
    for (const f of REQUIRED) if (!p[f]) return { ok: false, kind: 'bad-request', field: f };
    const a = p.algorithm;
    const alg = a === undefined || a === 'MD5' ? 'MD5' : a === 'SHA-256' ? 'SHA-256' : ALGORITHMS[a.toLowerCase()];
    if (!alg || !this.algorithms.includes(alg)) return { ok: false, kind: 'mismatch', field: 'algorithm' };
    if (p.realm !== this.realm) return { ok: false, kind: 'mismatch', field: 'realm' };
    if (p.qop === undefined) return { ok: false, kind: 'mismatch', field: 'qop' };
    if (p.qop !== 'auth' && p.qop.toLowerCase() !== 'auth') return { ok: false, kind: 'mismatch', field: 'qop' };
    if (!p.cnonce) return { ok: false, kind: 'bad-request', field: 'cnonce' };
    if (!p.nc || !NC.test(p.nc)) return { ok: false, kind: 'bad-request', field: 'nc' };
    if (p.opaque !== undefined && p.opaque !== this.opaque) return { ok: false, kind: 'mismatch', field: 'opaque' };
    const hexLen = alg === 'SHA-256' ? 64 : 32;
    if (p.response.length !== hexLen || !/^[0-9a-fA-F]+$/.test(p.response)) return { ok: false, kind: 'bad-request', field: 'response' };
    if (requestUri !== undefined && p.uri !== requestUri) return { ok: false, kind: 'bad-request', field: 'uri' };
    // the AoR or its user part (all before the last '@'), compared in place
    if (p.username !== idc && !(idc.lastIndexOf('@') === p.username.length && idc.startsWith(p.username))) return { ok: false, kind: 'mismatch', field: 'username' };
    const opened = this.#opened(p.nonce);
    if (opened === undefined) return { ok: false, kind: 'unknown-nonce' };
    const now = this.#clock();
    if (now - opened.issued > this.#ttlMs || opened.issued > now + 5000) return { ok: false, kind: 'stale' };
    const nc = parseInt(p.nc, 16);
    // shared: the nonce-count is checked and recorded in one step once the response matched (settle)
    if (this.#shared && opened.issued < this.#shared.since) return { ok: false, kind: 'stale' };
    if (this.#shared) return { ok: true, algorithm: alg, username: p.username, nonce: p.nonce, nc, idc, issued: opened.issued, serial: opened.serial };
    const id = this.#byIdentity.get(idc);
    // retired: its nonce-count is forgotten, so it must not be used again
    if (id && opened.serial <= id.floor && now < id.floorUntil) return { ok: false, kind: 'stale' };
    const seen = this.#table.get(keyOf(idc, p.nonce));
    if (seen && nc <= seen.nc) return { ok: false, kind: 'nc-replayed' };
    return { ok: true, algorithm: alg, username: p.username, nonce: p.nonce, nc, idc, issued: opened.issued, serial: opened.serial };
  }

  /** The nonce's sealed issue time and serial: as `check` read them, else opened now. */
  #openedOf(c: DigestCandidate): { issued: number; serial: number } | undefined {
    return c.issued !== undefined && c.serial !== undefined ? { issued: c.issued, serial: c.serial } : this.#opened(c.nonce);
  }

  /**
   * Compares the response under HA1; a match records its nonce-count under
   * the identity (a failed guess records nothing: it proves nothing, and the
   * AuC counts it towards lockout).
   */
  verify(c: DigestCandidate, p: DigestParams, method: string, alg: DigestAlgorithm, ha1: string): boolean {
    return this.#matches(c, p, method, alg, ha1) && this.#record(c);
  }

  #matches(c: { nonce: string }, p: DigestParams, method: string, alg: DigestAlgorithm, ha1: string): boolean {
    // HA2 (method:uri) kept from the last REGISTER with the same uri
    const h = this.#ha2;
    if (h.alg !== alg || h.method !== method || h.uri !== p.uri) {
      h.alg = alg;
      h.method = method;
      // (a view on this REGISTER's text: keeps one message alive at most)
      h.uri = p.uri!;
      h.value = digestHex(alg, `${method}:${p.uri!}`);
    }
    const expected = Buffer.from(responseFromHa2(alg, ha1.toLowerCase(), c.nonce, p.nc!, p.cnonce!, h.value), 'latin1');
    const got = Buffer.from(p.response!.toLowerCase(), 'latin1');
    return got.length === expected.length && timingSafeEqual(got, expected);
  }

  /**
   * `verify`, with the nonce-count kept where the instances share it: a
   * matching response whose count was used already (at this instance or
   * another) is `replayed`. Throws RedisUnavailableError when the shared table
   * cannot be reached (the caller answers 503).
   */
  settle(c: DigestCandidate, p: DigestParams, method: string, alg: DigestAlgorithm, ha1: string): DigestSettled | Promise<DigestSettled> {
    // kept here: answered at once, no promise per registration
    if (!this.#shared) return this.verify(c, p, method, alg, ha1) ? 'ok' : 'bad';
    return this.#settleShared(this.#shared, c, p, method, alg, ha1);
  }

  async #settleShared(shared: NonceCountStore, c: DigestCandidate, p: DigestParams, method: string, alg: DigestAlgorithm, ha1: string): Promise<DigestSettled> {
    if (!this.#matches(c, p, method, alg, ha1)) return 'bad';
    const opened = this.#openedOf(c);
    const ttl = opened ? opened.issued + this.#ttlMs - this.#clock() : 0;
    if (ttl <= 0) return 'replayed';
    // checked in `check` already, unless a reconnection's epoch was still being read then
    await shared.current();
    if (opened!.issued < shared.since) return 'stale';
    return (await shared.record(c.idc, c.nonce, c.nc, ttl)) ? 'ok' : 'replayed';
  }

  /** Keeps `c.nc` as the nonce's highest count; false if a racing request already used it. */
  #record(c: DigestCandidate): boolean {
    const now = this.#clock();
    const seen = this.#table.get(keyOf(c.idc, c.nonce));
    if (seen) {
      if (c.nc <= seen.nc) return false;
      seen.nc = c.nc;
      return true;
    }
    const opened = this.#openedOf(c) ?? { issued: now, serial: this.#serial };
    // (a clock set back starts the period again)
    if (now >= this.#nextPrune || now < this.#nextPrune - PRUNE_EVERY_MS) {
      this.#nextPrune = now + PRUNE_EVERY_MS;
      this.#prune(now);
    }
    // Own strings: the parsed IDc and nonce are views on the whole REGISTER's text, which they would keep alive.
    let id = this.#byIdentity.get(c.idc);
    if (!id) {
      const idc = own(c.idc);
      this.#byIdentity.set(idc, (id = { idc, keys: [], floor: -1, floorUntil: 0 }));
    }
    const idc = id.idc;
    // One identity holds at most its share; then the whole table its bound. Retiring the oldest
    // (not refusing the newest) keeps a phone working, and its retirement mark keeps replays out.
    while (id.keys.length >= this.#perIdentity) {
      const oldest = id.keys[0]!;
      if (this.#table.has(oldest)) this.#retire(oldest);
      else id.keys.shift();
    }
    while (this.#table.size >= this.#max) this.#retire(this.#table.keys().next().value!);
    const key = own(keyOf(idc, c.nonce));
    this.#table.set(key, { idc, nc: c.nc, serial: opened.serial, expiresAt: opened.issued + this.#ttlMs });
    id.keys.push(key);
    return true;
  }

  /** Forgets a live nonce early: its identity then refuses it (and every older one) as stale until they expire. */
  #retire(key: string): void {
    const t = this.#table.get(key);
    if (!t) return;
    this.#forget(key, t);
    const id = this.#byIdentity.get(t.idc);
    if (!id) return;
    // every nonce issued up to this one has expired by the time this one has
    id.floor = Math.max(id.floor, t.serial);
    id.floorUntil = Math.max(id.floorUntil, t.expiresAt);
  }

  #forget(key: string, t: Tracked): void {
    this.#table.delete(key);
    const id = this.#byIdentity.get(t.idc);
    if (!id) return;
    const i = id.keys.indexOf(key);
    if (i >= 0) id.keys.splice(i, 1);
  }

  /** Drops the expired entries at the front (an expired nonce is refused as stale anyway). */
  #prune(now: number): void {
    for (const [k, t] of this.#table) {
      if (t.expiresAt > now) break;
      this.#forget(k, t);
      this.#dropIfIdle(t.idc, now);
    }
  }

  #dropIfIdle(idc: string, now: number): void {
    const id = this.#byIdentity.get(idc);
    if (id && id.keys.length === 0 && id.floorUntil <= now) this.#byIdentity.delete(idc);
  }

  /** Forgets expired nonces and retirement marks (their nonces are stale by now). */
  sweep(): void {
    const now = this.#clock();
    for (const [k, t] of this.#table) if (t.expiresAt <= now) this.#forget(k, t);
    for (const idc of [...this.#byIdentity.keys()]) this.#dropIfIdle(idc, now);
  }
}

const own = (s: string): string => Buffer.from(s, 'utf8').toString('utf8');

/** 8 bytes big-endian as a number (exact below 2^53, as every value this module seals). */
function readUint64(b: Buffer, at: number): number {
  return b.readUInt32BE(at) * TWO_32 + b.readUInt32BE(at + 4);
}

/** The table key: the nonce is fixed-length base64url, so the pair is unambiguous. */
function keyOf(idc: string, nonce: string): string {
  return `${idc}\n${nonce}`;
}
