/**
 * An SBC pool: instances behind one address share an EC P-256 key pair and
 * its certificate. A signing key travels between them inside the
 * Record-Route URI as a blob encrypted to the pool's public key (ECIES:
 * ephemeral ECDH, HKDF-SHA256, AES-256-GCM) and signed with the pool's
 * private key (ECDSA P-256), with its creation and expiry times. Layout in
 * docs/header-signing.md ("Key blob").
 *
 * Opening a blob costs an ECDSA verify and an ECDH: results are cached by
 * the blob text, so a dialog's blob is opened once, not per message (and one
 * blob serves every dialog signed with that key).
 */
import {
  createCipheriv,
  createDecipheriv,
  createECDH,
  createHash,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  hkdfSync,
  sign,
  verify,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import type { SigningKey, SigningPurpose } from '../signing/keyring.js';

const VERSION = 1;
const POOL_ID_BYTES = 4;
const EPK_BYTES = 33;
const PLAIN_BYTES = 1 + 6 + 6 + 6 + 32;
const TAG_BYTES = 16;
const SIG_BYTES = 64;
const HEAD_BYTES = 1 + POOL_ID_BYTES + EPK_BYTES;
export const BLOB_BYTES = HEAD_BYTES + PLAIN_BYTES + TAG_BYTES + SIG_BYTES;
/** base64url length of a blob (no padding). */
export const BLOB_CHARS = Math.ceil((BLOB_BYTES * 4) / 3);

const SIG_CONTEXT = Buffer.from('keyswitch pool key blob v1\0', 'latin1');
const HKDF_INFO = 'keyswitch pool key blob v1';
const ZERO_NONCE = Buffer.alloc(12); // each blob has its own AES key (fresh ephemeral ECDH)
const PURPOSE_CODE: Record<SigningPurpose, number> = { via: 1, rr: 2 };
const BLOB_RE = /^[A-Za-z0-9_-]+$/;

export type BlobFailure = 'malformed' | 'other-pool' | 'forged' | 'expired';

export type OpenedBlob = { ok: true; key: SigningKey } | { ok: false; reason: BlobFailure };

export interface PoolOptions {
  /** Longest validity a blob may claim (created → expires); default 4 h + 24 h. */
  maxLifetimeMs?: number;
  /** Tolerated clock difference between instances (default 5 min). */
  clockSkewMs?: number;
  /** Opened blobs kept (default 4096). */
  cacheSize?: number;
  now?: () => number;
}

function writeUint48(b: Buffer, off: number, v: number): void {
  b.writeUIntBE(Math.max(0, Math.floor(v)), off, 6);
}

export class SigningPool {
  /** First 4 bytes of SHA-256 of the pool's SubjectPublicKeyInfo, hex. */
  readonly id: string;
  readonly fingerprint256: string;
  readonly #idBytes: Buffer;
  readonly #priv: KeyObject;
  readonly #pub: KeyObject;
  readonly #pubPoint: Buffer;
  readonly #privScalar: Buffer;
  readonly #maxLifetimeMs: number;
  readonly #skewMs: number;
  readonly #cacheSize: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, SigningKey>();
  readonly #sealed = new Map<string, string>();

  constructor(certPem: string, keyPem: string, o: PoolOptions = {}) {
    const cert = new X509Certificate(certPem);
    const priv = createPrivateKey(keyPem);
    if (priv.asymmetricKeyType !== 'ec' || priv.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new Error('the pool key must be an EC P-256 key (keyswitch pool init makes one)');
    }
    if (!cert.checkPrivateKey(priv)) throw new Error('the pool certificate does not match the pool key');
    this.#priv = priv;
    this.#pub = createPublicKey(priv);
    const jwk = priv.export({ format: 'jwk' });
    this.#privScalar = Buffer.from(String(jwk.d), 'base64url');
    this.#pubPoint = Buffer.concat([Buffer.from([4]), Buffer.from(String(jwk.x), 'base64url'), Buffer.from(String(jwk.y), 'base64url')]);
    this.#idBytes = createHash('sha256').update(this.#pub.export({ type: 'spki', format: 'der' })).digest().subarray(0, POOL_ID_BYTES);
    this.id = this.#idBytes.toString('hex');
    this.fingerprint256 = cert.fingerprint256;
    this.#maxLifetimeMs = o.maxLifetimeMs ?? 28 * 3600_000;
    this.#skewMs = o.clockSkewMs ?? 5 * 60_000;
    this.#cacheSize = o.cacheSize ?? 4096;
    this.#now = o.now ?? Date.now;
  }

  /**
   * The blob for a signing key, made once per key and then reused (the key
   * and its times do not change, so neither does the blob's meaning).
   */
  seal(k: SigningKey): string {
    const had = this.#sealed.get(k.id);
    if (had) return had;
    const kid = Buffer.from(k.id, 'base64url');
    if (kid.length !== 6 || kid.toString('base64url') !== k.id) throw new Error('signing key id is not 6 bytes of base64url');
    const raw = k.key.export();
    if (raw.length !== 32) throw new Error('signing key must be 32 bytes');
    const plain = Buffer.alloc(PLAIN_BYTES);
    plain[0] = PURPOSE_CODE[k.purpose];
    kid.copy(plain, 1);
    writeUint48(plain, 7, k.createdAt);
    writeUint48(plain, 13, k.expiresAt);
    raw.copy(plain, 19);
    raw.fill(0);

    const eph = createECDH('prime256v1');
    eph.generateKeys();
    const epk = eph.getPublicKey(null, 'compressed');
    const head = Buffer.concat([Buffer.from([VERSION]), this.#idBytes, epk]);
    const aes = this.#aesKey(eph.computeSecret(this.#pubPoint), epk);
    const cipher = createCipheriv('aes-256-gcm', aes, ZERO_NONCE);
    cipher.setAAD(head);
    const ct = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    plain.fill(0);
    const body = Buffer.concat([head, ct]);
    const sig = sign('sha256', Buffer.concat([SIG_CONTEXT, body]), { key: this.#priv, dsaEncoding: 'ieee-p1363' });
    const blob = Buffer.concat([body, sig]).toString('base64url');
    if (this.#sealed.size >= 64) this.#sealed.delete(this.#sealed.keys().next().value!);
    this.#sealed.set(k.id, blob);
    return blob;
  }

  /** Opens a blob from any instance of this pool; refuses other pools, forgeries and expired keys. */
  open(blob: string): OpenedBlob {
    const hit = this.#cache.get(blob);
    if (hit) {
      const r = this.#fresh(hit);
      if (!r.ok) this.#cache.delete(blob);
      return r;
    }
    if (typeof blob !== 'string' || blob.length !== BLOB_CHARS || !BLOB_RE.test(blob)) return { ok: false, reason: 'malformed' };
    const b = Buffer.from(blob, 'base64url');
    if (b.length !== BLOB_BYTES || b[0] !== VERSION) return { ok: false, reason: 'malformed' };
    if (!b.subarray(1, 1 + POOL_ID_BYTES).equals(this.#idBytes)) return { ok: false, reason: 'other-pool' };
    const body = b.subarray(0, BLOB_BYTES - SIG_BYTES);
    const sig = b.subarray(BLOB_BYTES - SIG_BYTES);
    let good = false;
    try {
      good = verify('sha256', Buffer.concat([SIG_CONTEXT, body]), { key: this.#pub, dsaEncoding: 'ieee-p1363' }, sig);
    } catch {
      good = false;
    }
    if (!good) return { ok: false, reason: 'forged' };
    const epk = b.subarray(1 + POOL_ID_BYTES, HEAD_BYTES);
    let plain: Buffer;
    try {
      const me = createECDH('prime256v1');
      me.setPrivateKey(this.#privScalar);
      const aes = this.#aesKey(me.computeSecret(epk), epk);
      const d = createDecipheriv('aes-256-gcm', aes, ZERO_NONCE);
      d.setAAD(b.subarray(0, HEAD_BYTES));
      d.setAuthTag(body.subarray(body.length - TAG_BYTES));
      plain = Buffer.concat([d.update(body.subarray(HEAD_BYTES, body.length - TAG_BYTES)), d.final()]);
    } catch {
      // Signed by the pool but not decryptable: made with a different pool key pair.
      return { ok: false, reason: 'forged' };
    }
    const purpose = plain[0] === 1 ? 'via' : plain[0] === 2 ? 'rr' : undefined;
    if (!purpose) return { ok: false, reason: 'malformed' };
    const key: SigningKey = Object.freeze({
      id: plain.subarray(1, 7).toString('base64url'),
      purpose,
      key: createSecretKey(plain.subarray(19, 51)),
      createdAt: plain.readUIntBE(7, 6),
      expiresAt: plain.readUIntBE(13, 6),
    });
    plain.fill(0);
    if (key.expiresAt <= key.createdAt || key.expiresAt - key.createdAt > this.#maxLifetimeMs) return { ok: false, reason: 'malformed' };
    const r = this.#fresh(key);
    if (r.ok) {
      if (this.#cache.size >= this.#cacheSize) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(blob, key);
    }
    return r;
  }

  /** Opened blobs held in the cache. */
  cached(): number {
    return this.#cache.size;
  }

  #fresh(k: SigningKey): OpenedBlob {
    const now = this.#now();
    if (k.expiresAt <= now) return { ok: false, reason: 'expired' };
    if (k.createdAt > now + this.#skewMs) return { ok: false, reason: 'malformed' };
    return { ok: true, key: k };
  }

  #aesKey(shared: Buffer, epk: Buffer): Buffer {
    return Buffer.from(hkdfSync('sha256', shared, epk, HKDF_INFO + '|' + this.id, 32));
  }

  toJSON(): string {
    return `[SigningPool ${this.id}]`;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `[SigningPool ${this.id}]`;
  }
}
