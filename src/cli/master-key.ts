/**
 * `keyswitch master-key status` and `keyswitch master-key rotate`
 * (docs/auc.md, "Master-key rotation").
 *
 * Rotation with `master.key` in the data directory, and what a crash at each
 * step leaves:
 *   1. the new key is written to `master.key.new` (0600, fsync);
 *      crash → the database is under the old key, `master.key` opens it; the
 *      next rotation discards the stray `master.key.new`.
 *   2. one transaction re-seals every sealed value and makes the new version
 *      current; crash → rolled back, as in 1.
 *   3. `master.key` is kept as `master.key.v<old>`, `master.key.new` renamed
 *      to `master.key`; crash → the next start sees that `master.key.new`
 *      is the current key and finishes this step.
 *   4. `master.key.v<old>` is removed (kept with --keep-old).
 * With the key configured (KEYSWITCH_MASTER_KEY), the new key comes from
 * --new-key-file and the operator configures it afterwards; there are no
 * files to swap.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { parseMasterKey, syncDir, writeMasterKeyFile } from '../crypto/vault.js';
import { crashPoint } from '../store/crash-point.js';
import { finishKeySwap, masterKeyFiles, masterKeyStatus, rotateMasterKey } from '../store/master-key.js';
import { UsageError, withStore, type GlobalFlags } from './context.js';

export async function masterKeyStatusCommand(flags: GlobalFlags, json = false): Promise<void> {
  await withStore(flags, async (store, cfg) => {
    const s = await masterKeyStatus(store.db.knex);
    const where = cfg.masterKey ? 'KEYSWITCH_MASTER_KEY (masterKey)' : masterKeyFiles(cfg.dataDir).main;
    if (json) {
      const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
      const versions = s.versions.map((v) => ({ version: v.version, checkValue: v.kcv.slice(0, 8), state: v.state, createdAt: iso(v.createdAt), ...(v.retiredAt !== undefined ? { retiredAt: iso(v.retiredAt) } : {}) }));
      console.log(JSON.stringify({ version: store.vault.version, checkValue: store.vault.checkValue.slice(0, 8), from: where, sealed: s.sealed, versions }));
      return;
    }
    console.log(`master key version ${store.vault.version} (check value ${store.vault.checkValue.slice(0, 8)}) from ${where} opens this database`);
    console.log(`${s.sealed} sealed values`);
    for (const v of s.versions) {
      console.log(`  version ${v.version}  check value ${v.kcv.slice(0, 8)}  ${v.state}  since ${new Date(v.createdAt).toISOString()}${v.retiredAt !== undefined ? `, retired ${new Date(v.retiredAt).toISOString()}` : ''}`);
    }
  });
}

export interface RotateOptions {
  /** The new key (64 hex digits) from a file; default: generated. */
  newKeyFile?: string;
  /** Keep the previous key file as master.key.v<old>. */
  keepOld?: boolean;
  /** The outcome as one JSON line. */
  json?: boolean;
}

export async function masterKeyRotateCommand(o: RotateOptions, flags: GlobalFlags): Promise<void> {
  await withStore(flags, async (store, cfg) => {
    const configured = Boolean(cfg.masterKey);
    let newKey: Buffer;
    if (o.newKeyFile) {
      let text: string;
      try {
        text = readFileSync(o.newKeyFile, 'utf8');
      } catch (err) {
        throw new UsageError(`--new-key-file: cannot read ${o.newKeyFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      try {
        newKey = parseMasterKey(text, `the key in ${o.newKeyFile}`);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
    } else if (configured) {
      throw new UsageError('the master key is configured (KEYSWITCH_MASTER_KEY or masterKey): give the new one with --new-key-file FILE (e.g. made with `openssl rand -hex 32`), and configure it after the rotation');
    } else newKey = randomBytes(32);

    const files = masterKeyFiles(cfg.dataDir);
    if (!configured) {
      if (existsSync(files.pending)) {
        // Opening the store succeeded with master.key, so this one was never committed.
        unlinkSync(files.pending);
        syncDir(files.dir);
        process.stderr.write(`removed ${files.pending}, left by a rotation that did not commit\n`);
      }
      writeMasterKeyFile(files.pending, newKey);
      crashPoint('rotate:key-written');
    }

    const tty = process.stderr.isTTY;
    let last = 0;
    let committed = false;
    let result;
    try {
      result = await rotateMasterKey(store.db.knex, store.db.engine, store.vault, newKey, {
        now: store.now,
        onProgress(done, total) {
          const now = Date.now();
          if (done === total || now - last > 500) {
            last = now;
            process.stderr.write(`${tty ? '\r' : ''}re-sealed ${done}/${total}${tty && done !== total ? '' : '\n'}`);
          }
        },
      });
      committed = true;
    } finally {
      // Not committed: the database is still under the old key, and the new file means nothing.
      if (!committed && !configured && existsSync(files.pending)) {
        unlinkSync(files.pending);
        syncDir(files.dir);
      }
      newKey.fill(0);
    }
    crashPoint('rotate:committed');

    const outcome = { from: result.from, to: result.to, checkValue: result.checkValue.slice(0, 8), resealed: result.resealed };
    if (configured) {
      if (o.json) console.log(JSON.stringify({ ...outcome, keyFile: o.newKeyFile }));
      else {
        console.log(`master key rotated: version ${result.from} → ${result.to} (check value ${result.checkValue.slice(0, 8)}); ${result.resealed} sealed values re-sealed`);
        console.log(`the database now opens only with the key in ${o.newKeyFile}: set KEYSWITCH_MASTER_KEY (or masterKey) to it and restart every role`);
      }
      return;
    }
    if (!o.json) console.log(`master key rotated: version ${result.from} → ${result.to} (check value ${result.checkValue.slice(0, 8)}); ${result.resealed} sealed values re-sealed`);
    const backup = finishKeySwap(cfg.dataDir, result.from);
    if (backup && !o.keepOld) {
      unlinkSync(backup);
      syncDir(files.dir);
    }
    if (o.json) {
      console.log(JSON.stringify({ ...outcome, keyFile: files.main, ...(backup && o.keepOld ? { previousKeyFile: backup } : {}) }));
      return;
    }
    console.log(`${files.main} holds the new key: back it up now; backups of the database from now on need it`);
    if (backup && o.keepOld) console.log(`the previous key is kept in ${backup}: it opens only database backups made before this rotation`);
    console.log('restart every role that uses this store (with this master.key)');
  });
}
