import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ID_PATTERN } from '../../contracts/licence.js';

/**
 * The licence server's copies of protected packages (ciphertext only):
 * `voicemail/<messageId>.ksvm` under the data directory. A name is only ever
 * made from a checked message id, never from request text as given.
 */
export class PackageFiles {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'voicemail');
  }

  #path(id: string): string {
    if (!ID_PATTERN.test(id)) throw new Error('not a message id');
    return join(this.dir, `${id}.ksvm`);
  }

  /** Written to a temporary name, made durable, then renamed into place. */
  write(id: string, bytes: Buffer): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.#path(id)}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, bytes);
      fsyncSync(fd);
    } catch (err) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw err;
    }
    closeSync(fd);
    renameSync(tmp, this.#path(id));
  }

  read(id: string): Buffer | undefined {
    try {
      return readFileSync(this.#path(id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  remove(id: string): void {
    rmSync(this.#path(id), { force: true });
  }
}
