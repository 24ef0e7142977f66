import { hmacSha256 } from './hmac.js';
import { deriveAppHmacKey, equalBytes, KEY_LEN } from './ks1.js';

/**
 * The `app-hmac` mechanism: after registration every message between
 * terminal and SBC carries a sequence number and a 16-byte tag under a key
 * derived from Kc,sp (HKDF info "ks1 app-hmac").
 *
 * tag = first 16 bytes of HMAC-SHA256(K_app, dir(1) || seq(8, big-endian) || message)
 *
 * The direction byte keeps a message from being reflected back to its sender
 * (each direction has its own sequence, so the same seq exists both ways).
 */

export const APP_HMAC_TAG_LEN = 16;
export const DEFAULT_REPLAY_WINDOW = 64;
/** Sequence numbers start at 1; 0 is never valid (as in IPsec). */
export const FIRST_SEQ = 1;

export type Direction = 'uplink' | 'downlink'; // uplink: terminal → SBC
const DIR_BYTE: Record<Direction, number> = { uplink: 0x01, downlink: 0x02 };

export function appHmacTag(kApp: Buffer, dir: Direction, seq: number, message: Uint8Array): Buffer {
  if (kApp.length !== KEY_LEN) throw new RangeError(`app-hmac key is ${KEY_LEN} bytes`);
  if (!Number.isSafeInteger(seq) || seq < FIRST_SEQ) throw new RangeError('app-hmac sequence number out of range');
  const head = Buffer.allocUnsafe(9);
  head[0] = DIR_BYTE[dir];
  head.writeBigUInt64BE(BigInt(seq), 1);
  return hmacSha256(kApp, head, message).subarray(0, APP_HMAC_TAG_LEN);
}

/** Signs outgoing messages of one direction with a rising sequence number. */
export class AppHmacSigner {
  readonly #key: Buffer;
  readonly dir: Direction;
  #next: number;

  /** `key` is K_app (SessionKeys.kAppHmac), not Kc,sp. */
  constructor(key: Buffer, dir: Direction, nextSeq = FIRST_SEQ) {
    if (key.length !== KEY_LEN) throw new RangeError(`app-hmac key is ${KEY_LEN} bytes`);
    this.#key = key;
    this.dir = dir;
    this.#next = nextSeq;
  }

  static fromSessionKey(kcsp: Buffer, dir: Direction): AppHmacSigner {
    return new AppHmacSigner(deriveAppHmacKey(kcsp), dir);
  }

  /** The tag for an explicit sequence number (does not advance the counter). */
  sign(seq: number, message: Uint8Array): Buffer {
    return appHmacTag(this.#key, this.dir, seq, message);
  }

  /** Takes the next sequence number and signs with it. */
  protect(message: Uint8Array): { seq: number; tag: Buffer } {
    const seq = this.#next++;
    return { seq, tag: this.sign(seq, message) };
  }

  toJSON(): string {
    return '[AppHmacSigner]';
  }
}

export type AppHmacVerdict = 'ok' | 'missing' | 'bad-tag' | 'replayed' | 'too-old';

/**
 * Verifies incoming messages of one direction: the tag must be right and the
 * sequence number new, inside a sliding window (RFC 4303 §3.4.3 style). The
 * window only moves after the tag has verified, so forged packets cannot
 * push it.
 */
export class AppHmacVerifier {
  readonly #key: Buffer;
  readonly dir: Direction;
  readonly window: number;
  #top = 0; // highest verified sequence number
  readonly #bits: Uint32Array; // bit (seq % window) set = seq seen

  constructor(key: Buffer, dir: Direction, window = DEFAULT_REPLAY_WINDOW) {
    if (key.length !== KEY_LEN) throw new RangeError(`app-hmac key is ${KEY_LEN} bytes`);
    if (!Number.isInteger(window) || window < 1 || window > 4096) throw new RangeError('replay window must be 1..4096');
    this.#key = key;
    this.dir = dir;
    this.window = window;
    this.#bits = new Uint32Array(Math.ceil(window / 32));
  }

  static fromSessionKey(kcsp: Buffer, dir: Direction, window?: number): AppHmacVerifier {
    return new AppHmacVerifier(deriveAppHmacKey(kcsp), dir, window);
  }

  get highest(): number {
    return this.#top;
  }

  verify(seq: number | undefined, message: Uint8Array, tag: Uint8Array | undefined): AppHmacVerdict {
    if (seq === undefined || tag === undefined) return 'missing';
    if (!Number.isSafeInteger(seq) || seq < FIRST_SEQ) return 'bad-tag';
    if (seq <= this.#top) {
      if (this.#top - seq >= this.window) return 'too-old';
      if (this.#isSet(seq)) return 'replayed';
    }
    if (!equalBytes(appHmacTag(this.#key, this.dir, seq, message), tag)) return 'bad-tag';
    this.#accept(seq);
    return 'ok';
  }

  #isSet(seq: number): boolean {
    const i = seq % this.window;
    return (this.#bits[i >>> 5] & (1 << (i & 31))) !== 0;
  }

  #set(seq: number, on: boolean): void {
    const i = seq % this.window;
    if (on) this.#bits[i >>> 5] |= 1 << (i & 31);
    else this.#bits[i >>> 5] &= ~(1 << (i & 31));
  }

  #accept(seq: number): void {
    if (seq > this.#top) {
      if (seq - this.#top >= this.window) this.#bits.fill(0);
      else for (let s = this.#top + 1; s < seq; s++) this.#set(s, false);
      this.#top = seq;
    }
    this.#set(seq, true);
  }

  toJSON(): string {
    return '[AppHmacVerifier]';
  }
}
