/**
 * Where sealed packages live: `<dir>/<messageId>.ksvm`, mode 0600. Only
 * ciphertext is ever written (the package is sealed in memory first); it
 * goes to a temporary name, is synced, and renamed into place, so a reader
 * never sees half a package. A write that fails (disk full, file too large)
 * removes the temporary file: nothing of the message stays.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { isMessageId, type SealedPackage } from '../contracts/voicemail-package.js';

const SUFFIX = '.ksvm';

export class PackageStore {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Temporary files of a previous run that died mid-write: ciphertext, but never a message.
    for (const f of readdirSync(dir)) if (f.startsWith('.tmp-')) unlinkSync(join(dir, f));
  }

  path(messageId: string): string {
    if (!isMessageId(messageId)) throw new RangeError('not a message id');
    return join(this.dir, messageId + SUFFIX);
  }

  /** Writes the package; throws the write's error after removing what was written. */
  write(pkg: SealedPackage): string {
    const final = this.path(pkg.header.messageId);
    const tmp = join(this.dir, `.tmp-${randomBytes(8).toString('hex')}`);
    let fd: number | undefined;
    try {
      fd = openSync(tmp, 'wx', 0o600);
      for (let off = 0; off < pkg.bytes.length; ) off += writeSync(fd, pkg.bytes, off, pkg.bytes.length - off);
      fsyncSync(fd);
      closeSync(fd);
      fd = undefined;
      renameSync(tmp, final);
      return final;
    } catch (err) {
      if (fd !== undefined) {
        try {
          closeSync(fd);
        } catch {
          // closing is best effort: the unlink below is what matters
        }
      }
      try {
        unlinkSync(tmp);
      } catch {
        // never created
      }
      throw err;
    }
  }

  /** The package bytes, or undefined when there is none under that id (or the id is not one). */
  read(messageId: string): Buffer | undefined {
    if (!isMessageId(messageId)) return undefined;
    try {
      return readFileSync(this.path(messageId));
    } catch {
      return undefined;
    }
  }

  remove(messageId: string): void {
    try {
      unlinkSync(this.path(messageId));
    } catch {
      // already gone
    }
  }

  list(): string[] {
    return readdirSync(this.dir).filter((f) => f.endsWith(SUFFIX)).map((f) => f.slice(0, -SUFFIX.length)).filter(isMessageId);
  }
}
