/**
 * The --keys-out file of `provision import`: where generated keys go, and the
 * only place they are written. It is created before the store is touched
 * (so a path that cannot be written stops the import before any terminal
 * exists), never over an existing file (an earlier import's keys), mode 0600,
 * and each key is on disk (fsync) before its terminal is created: a crash
 * may leave a key whose terminal was not created, never a terminal whose key
 * is nowhere.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { syncDir } from '../crypto/vault.js';
import { UsageError } from './context.js';

export class KeysOutFile {
  #fd: number | undefined;
  #written = 0;

  private constructor(readonly path: string, fd: number) {
    this.#fd = fd;
  }

  static create(path: string): KeysOutFile {
    try {
      return new KeysOutFile(path, openSync(path, 'wx', 0o600));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new UsageError(`--keys-out ${path} exists; refusing to overwrite it (it may hold the keys of an earlier import): give a new file`);
      throw new UsageError(`--keys-out: cannot write ${path} (${code ?? (err as Error).message}); nothing was imported`);
    }
  }

  /** Appends one key and makes it durable before returning. */
  keep(g: { idc: string; key: string }): void {
    if (this.#fd === undefined) throw new Error('keys file closed');
    const header = this.#written === 0 ? 'idc,key\n' : '';
    writeSync(this.#fd, `${header}${csvField(g.idc)},${g.key}\n`);
    fsyncSync(this.#fd);
    if (this.#written++ === 0) syncDir(dirname(this.path)); // the file's name is durable too
  }

  get written(): number {
    return this.#written;
  }

  /**
   * Closes the file. `used` are the keys whose terminals were created: when a
   * kept key went unused (its terminal failed, e.g. created meanwhile by
   * someone else) the file is rewritten with the used ones only. A file that
   * received no key is removed. Without `used` (the import stopped on an
   * error) every kept key stays.
   */
  close(used?: { idc: string; key: string }[]): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
    if (this.#written === 0) {
      unlinkSync(this.path);
      return;
    }
    if (!used || used.length === this.#written) return;
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, ['idc,key', ...used.map((g) => `${csvField(g.idc)},${g.key}`)].join('\n') + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    syncDir(dirname(this.path));
  }
}

export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
