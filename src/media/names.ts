/**
 * Recorded names (docs/voicemail.md, "Recorded name"): what a subscriber
 * recorded to be played to its callers instead of the generated greeting.
 * Not a message, but audio all the same, so it is not kept in clear either:
 * sealed (AES-256-GCM) under a key the media server derives from the core-link
 * key (HKDF-SHA256, its own label), bound to the owner and codec, written
 * atomically to `<store>/names/<sha256(owner)>.name`.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { decodeG711, encodeG711, type G711 } from '../rtp/index.js';

const LABEL = 'keyswitch media recorded names v1';

export class NameStore {
  readonly #key: Buffer;
  readonly dir: string;

  constructor(storeDir: string, linkKey: Buffer) {
    this.dir = join(storeDir, 'names');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.#key = Buffer.from(hkdfSync('sha256', linkKey, Buffer.alloc(0), LABEL, 32));
  }

  #path(owner: string): string {
    return join(this.dir, createHash('sha256').update(owner).digest('hex') + '.name');
  }

  #aad(owner: string, codec: G711): Buffer {
    return Buffer.from(`${LABEL}|${owner}|${codec}`, 'utf8');
  }

  /** Seals and stores; the audio buffer is zeroed. Throws the write's error after removing what was written. */
  save(owner: string, codec: G711, audio: Buffer): void {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.#key, iv);
    c.setAAD(this.#aad(owner, codec));
    const bytes = Buffer.concat([Buffer.from([codec === 'PCMU' ? 0 : 8]), iv, c.update(audio), c.final(), c.getAuthTag()]);
    audio.fill(0);
    const tmp = join(this.dir, `.tmp-${randomBytes(8).toString('hex')}`);
    let fd: number | undefined;
    try {
      fd = openSync(tmp, 'wx', 0o600);
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
      closeSync(fd);
      fd = undefined;
      renameSync(tmp, this.#path(owner));
    } catch (err) {
      if (fd !== undefined) closeSync(fd);
      try {
        unlinkSync(tmp);
      } catch {
        // never created
      }
      throw err;
    }
  }

  /** The owner's recorded name in `codec` (transcoded when recorded in the other law), or undefined. */
  load(owner: string, codec: G711): Buffer | undefined {
    let bytes: Buffer;
    try {
      bytes = readFileSync(this.#path(owner));
    } catch {
      return undefined;
    }
    if (bytes.length < 1 + 12 + 16) return undefined;
    const stored: G711 = bytes[0] === 0 ? 'PCMU' : 'PCMA';
    try {
      const d = createDecipheriv('aes-256-gcm', this.#key, bytes.subarray(1, 13));
      d.setAAD(this.#aad(owner, stored));
      d.setAuthTag(bytes.subarray(bytes.length - 16));
      const audio = Buffer.concat([d.update(bytes.subarray(13, bytes.length - 16)), d.final()]);
      return stored === codec ? audio : encodeG711(codec, decodeG711(stored, audio));
    } catch {
      return undefined;
    }
  }
}
