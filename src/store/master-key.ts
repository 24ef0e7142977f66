/**
 * Which master key opens this database, and rotating it (docs/auc.md, "Keys
 * at rest" and "Master-key rotation").
 *
 * The database keeps, per master-key version, the key's check value
 * (table master_keys, never the key). On open the configured key, or
 * `master.key` in the data directory, must be the current version's; anything
 * else is refused with one line that says which key is wanted. A new key is
 * generated only for a database that has never had one and holds no sealed
 * value, so a lost `master.key` is never silently replaced.
 */
import type { Knex } from 'knex';
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkValue, KeyVault, parseMasterKey, readMasterKeyFile, syncDir, writeMasterKeyFile } from '../crypto/vault.js';
import { crashPoint } from './crash-point.js';
import { ensureDataDir, type Engine } from './db.js';
import { isUniqueViolation, num } from './rows.js';

/** The master key does not open the database, or is missing: the message says what to do. */
export class MasterKeyError extends Error {}

type Row = Record<string, unknown>;

interface SealedTable {
  table: string;
  /** Primary key, for paging and updates. */
  key: string;
  /** Other columns the bindings need. */
  extra: string[];
  /** Sealed column → the binding it was sealed with (as its repository seals it). */
  columns: Record<string, (row: Row) => string>;
}

/**
 * Every sealed column of the schema, with the binding its repository uses
 * (src/store/principals.ts, src/store/signing-keys.ts). A new sealed column
 * goes here too, or rotation would leave it behind: test/store.test.ts checks
 * that every `*_enc` column of the schema is listed. Each of these tables
 * labels its rows with `mk_version`.
 */
export const SEALED: readonly SealedTable[] = [
  {
    table: 'terminals',
    key: 'idc',
    extra: [],
    columns: { key_enc: (r) => `terminal|key|${String(r.idc)}`, sip_secret_enc: (r) => `terminal|sip|${String(r.idc)}` },
  },
  { table: 'proxies', key: 'idsp', extra: [], columns: { key_enc: (r) => `proxy|key|${String(r.idsp)}` } },
  { table: 'sbc_signing_keys', key: 'id', extra: ['purpose'], columns: { key_enc: (r) => `signing-key|${String(r.purpose)}|${String(r.id)}` } },
  { table: 'voicemail_messages', key: 'id', extra: [], columns: { key_enc: (r) => `voicemail|key|${String(r.id)}` } },
];

interface KeyRecord {
  version: number;
  kcv: string;
  state: 'current' | 'retired';
  createdAt: number;
  retiredAt?: number;
}

async function records(k: Knex): Promise<KeyRecord[]> {
  const rows: Row[] = await k('master_keys').orderBy('version');
  return rows.map((r) => ({
    version: num(r.version),
    kcv: String(r.kcv),
    state: r.state === 'current' ? 'current' : 'retired',
    createdAt: num(r.created_at),
    ...(r.retired_at != null ? { retiredAt: num(r.retired_at) } : {}),
  }));
}

/** How many sealed values the database holds. */
export async function countSealed(k: Knex): Promise<number> {
  let n = 0;
  for (const t of SEALED) {
    for (const col of Object.keys(t.columns)) {
      const [{ c }] = await k(t.table).whereNotNull(col).count({ c: '*' });
      n += num(c);
    }
  }
  return n;
}

/** Each row of a sealed table, in pages (a rotation may cover millions). */
async function forEachRow(k: Knex, t: SealedTable, fn: (row: Row) => Promise<void> | void): Promise<void> {
  const PAGE = 500;
  let last: unknown;
  for (;;) {
    const q = k(t.table).select([t.key, ...t.extra, ...Object.keys(t.columns)]).orderBy(t.key).limit(PAGE);
    if (last !== undefined) q.where(t.key, '>', last as string);
    const rows: Row[] = await q;
    for (const r of rows) await fn(r);
    if (rows.length < PAGE) return;
    last = rows[rows.length - 1]![t.key];
  }
}

/** The files of a data directory that hold master keys. */
export function masterKeyFiles(dataDir: string) {
  const dir = resolve(dataDir);
  return {
    dir,
    /** The key in use. */
    main: join(dir, 'master.key'),
    /** A rotation's new key, written before the database is re-sealed under it. */
    pending: join(dir, 'master.key.new'),
    /** The previous key, kept while a rotation finishes (and after it with --keep-old). */
    backup: (version: number | string) => join(dir, `master.key.v${version}`),
  };
}

const short = (kcv: string) => kcv.slice(0, 8);
const day = (ms: number | undefined) => (ms === undefined ? 'an unknown date' : new Date(ms).toISOString());

export interface ResolveOptions {
  /** KEYSWITCH_MASTER_KEY / masterKey; empty: `master.key` in dataDir. */
  masterKeyHex?: string;
  dataDir: string;
  /** May the data directory be created to hold a first master key (default true). */
  createDataDir?: boolean;
  now: () => number;
  /** Lines for the operator (an interrupted rotation finished). */
  onNotice?: (line: string) => void;
}

/**
 * The vault of the key that opens this database: the configured key or
 * `master.key`, checked against the current version's check value; finishes
 * a rotation that committed but was cut off before its key file was in place.
 */
export async function resolveMasterKey(k: Knex, o: ResolveOptions): Promise<KeyVault> {
  const recs = await records(k);
  const current = recs.find((r) => r.state === 'current');
  if (!current) {
    if (recs.length) throw new MasterKeyError('the database has master keys but none is current (table master_keys was edited?); restore it from a backup');
    return firstKey(k, o);
  }
  const wanted = `master key version ${current.version} (check value ${short(current.kcv)})`;
  if (o.masterKeyHex) return vaultOrRefuse(configuredKey(o.masterKeyHex), 'the configured master key (KEYSWITCH_MASTER_KEY)', recs, current, o.dataDir);

  const f = masterKeyFiles(o.dataDir);
  const main = readKeyFile(f.main);
  if (main && checkValue(main) === current.kcv) return new KeyVault(main, current.version);
  const pending = readMasterKeyFile(f.pending, true);
  if (pending && checkValue(pending) === current.kcv) {
    // The rotation committed; only its file swap was cut off.
    const old = main ? recs.find((r) => r.kcv === checkValue(main))?.version : undefined;
    const backup = finishKeySwap(o.dataDir, old);
    o.onNotice?.(`finished an interrupted master-key rotation: ${f.main} now holds ${wanted}${backup ? `; the previous key is kept in ${backup}: delete it once no backup of the database needs it` : ''}`);
    return new KeyVault(pending, current.version);
  }
  if (!main) {
    throw new MasterKeyError(`master key ${f.main} is missing, and the database is sealed under ${wanted}, ${await countSealed(k)} sealed values${hint(o.dataDir, current)}: restore that file from your backup (or set KEYSWITCH_MASTER_KEY); no new key was made`);
  }
  return vaultOrRefuse(main, `master key ${f.main}`, recs, current, o.dataDir);
}

function configuredKey(hex: string): Buffer {
  try {
    return parseMasterKey(hex, 'KEYSWITCH_MASTER_KEY (masterKey)');
  } catch (err) {
    throw new MasterKeyError((err as Error).message);
  }
}

function readKeyFile(file: string): Buffer | undefined {
  try {
    return readMasterKeyFile(file);
  } catch (err) {
    throw new MasterKeyError((err as Error).message);
  }
}

function vaultOrRefuse(key: Buffer, what: string, recs: KeyRecord[], current: KeyRecord, dataDir: string): KeyVault {
  const kcv = checkValue(key);
  if (kcv === current.kcv) return new KeyVault(key, current.version);
  const wanted = `master key version ${current.version} (check value ${short(current.kcv)})`;
  const old = recs.find((r) => r.kcv === kcv);
  if (old) throw new MasterKeyError(`${what} is master key version ${old.version}, retired by a rotation on ${day(old.retiredAt)}; the database is sealed under ${wanted}${hint(dataDir, current)}: use that key`);
  throw new MasterKeyError(`${what} (check value ${short(kcv)}) does not open this database: it is sealed under ${wanted}${hint(dataDir, current)}`);
}

/** Names a file of the data directory that holds the wanted key, if one does. */
function hint(dataDir: string, current: KeyRecord): string {
  try {
    const dir = resolve(dataDir);
    for (const name of readdirSync(dir).filter((n) => n.startsWith('master.key')).sort()) {
      const text = readFileSync(join(dir, name), 'utf8').trim();
      if (/^[0-9a-fA-F]{64}$/.test(text) && checkValue(Buffer.from(text, 'hex')) === current.kcv) return `; ${join(dir, name)} holds that key`;
    }
  } catch {
    /* no data directory, or unreadable: no hint */
  }
  return '';
}

/** A database that has never recorded a master key: record this one (generated only if nothing is sealed yet). */
async function firstKey(k: Knex, o: ResolveOptions): Promise<KeyVault> {
  const sealed = await countSealed(k);
  let key: Buffer | undefined;
  let what: string;
  if (o.masterKeyHex) {
    key = configuredKey(o.masterKeyHex);
    what = 'the configured master key (KEYSWITCH_MASTER_KEY)';
  } else {
    const f = masterKeyFiles(o.dataDir);
    what = `master key ${f.main}`;
    key = readKeyFile(f.main);
    if (!key && sealed === 0) {
      ensureDataDir(o.dataDir, o.createDataDir ?? true);
      try {
        writeMasterKeyFile(f.main, randomBytes(32));
      } catch (err) {
        // Another process starting at the same moment wrote it first: theirs is the key.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      key = readKeyFile(f.main);
    }
    if (!key) throw new MasterKeyError(`master key ${f.main} is missing, and the database holds ${sealed} sealed values: restore that file from your backup (or set KEYSWITCH_MASTER_KEY); no new key was made`);
  }
  if (sealed > 0) {
    // A database from before master_keys: vouch for this key only if it opens every sealed value.
    const vault = new KeyVault(key, 1);
    let bad = 0;
    let example = '';
    for (const t of SEALED) {
      await forEachRow(k, t, (row) => {
        for (const [col, binding] of Object.entries(t.columns)) {
          if (row[col] == null) continue;
          try {
            vault.open(String(row[col]), binding(row)).fill(0);
          } catch {
            bad++;
            example ||= `${t.table} ${JSON.stringify(row[t.key])}`;
          }
        }
      });
    }
    if (bad) throw new MasterKeyError(`${what} opens ${sealed - bad} of the ${sealed} sealed values in this database (not ${example}): they were sealed under more than one master key; start with the key they were sealed under`);
  }
  try {
    await k('master_keys').insert({ version: 1, kcv: checkValue(key), state: 'current', created_at: o.now() });
  } catch (err) {
    // Another process recorded its key first: check ours against it.
    if (isUniqueViolation(err)) return resolveMasterKey(k, o);
    throw err;
  }
  return new KeyVault(key, 1);
}

/**
 * Completes a rotation's file swap: the previous `master.key` is kept as
 * `master.key.v<old>` (a hard link, so there is no moment without it), then
 * `master.key.new` replaces `master.key` (an atomic rename). Returns the
 * backup's path, if there was a previous file.
 */
export function finishKeySwap(dataDir: string, oldVersion: number | undefined): string | undefined {
  const f = masterKeyFiles(dataDir);
  let backup: string | undefined;
  if (existsSync(f.main)) {
    backup = f.backup(oldVersion ?? 'replaced');
    if (existsSync(backup) && !readFileSync(backup).equals(readFileSync(f.main))) backup = `${backup}.${Date.now()}`;
    if (!existsSync(backup)) {
      linkSync(f.main, backup);
      syncDir(f.dir);
    }
    crashPoint('rotate:backup-linked');
  }
  renameSync(f.pending, f.main);
  syncDir(f.dir);
  return backup;
}

export interface RotateResult {
  from: number;
  to: number;
  /** Sealed values re-sealed. */
  resealed: number;
  checkValue: string;
}

/**
 * Re-seals every sealed value under `newKey` in one transaction, which also
 * retires the current version and records the new one: a crash leaves the
 * database wholly under one key or the other. Writers are held off for its
 * duration (the SQLite write lock, a PostgreSQL table lock). Processes that
 * opened the store before must be restarted with the new key afterwards.
 */
export async function rotateMasterKey(
  k: Knex,
  engine: Engine,
  vault: KeyVault,
  newKey: Buffer,
  o: { now: () => number; onProgress?: (done: number, total: number) => void },
): Promise<RotateResult> {
  const kcv = checkValue(newKey);
  if (kcv === vault.checkValue) throw new MasterKeyError('the new master key is the current one');
  // Commits under WAL with synchronous=NORMAL may be lost to a power cut; this one must not be,
  // since the key files are swapped after it.
  if (engine === 'sqlite') await k.raw('PRAGMA synchronous = FULL');
  try {
    return await k.transaction(async (trx) => {
      if (engine === 'postgres') await trx.raw(`LOCK TABLE master_keys, ${SEALED.map((t) => t.table).join(', ')} IN EXCLUSIVE MODE`);
      const t = o.now();
      // On SQLite this first statement writes, so the transaction holds the write lock from here on.
      const retired = await trx('master_keys').where({ version: vault.version, kcv: vault.checkValue, state: 'current' }).update({ state: 'retired', retired_at: t });
      if (retired !== 1) throw new MasterKeyError('the database is no longer sealed under the key this command opened it with (another rotation?); run the command again');
      const reused = (await records(trx)).find((r) => r.kcv === kcv);
      if (reused) throw new MasterKeyError(`that key was master key version ${reused.version} of this database; choose a new one`);
      const [{ v }] = await trx('master_keys').max({ v: 'version' });
      const to = num(v) + 1;
      await trx('master_keys').insert({ version: to, kcv, state: 'current', created_at: t });
      const next = new KeyVault(newKey, to);
      const total = await countSealed(trx);
      let done = 0;
      o.onProgress?.(0, total);
      for (const spec of SEALED) {
        await forEachRow(trx, spec, async (row) => {
          const update: Row = { mk_version: to };
          for (const [col, bindingOf] of Object.entries(spec.columns)) {
            if (row[col] == null) continue;
            const binding = bindingOf(row);
            let plain: Buffer;
            try {
              plain = vault.open(String(row[col]), binding);
            } catch {
              throw new MasterKeyError(`${spec.table} ${JSON.stringify(row[spec.key])}: its ${col} does not open under master key version ${vault.version}; nothing was changed`);
            }
            update[col] = next.seal(plain, binding);
            plain.fill(0);
            done++;
          }
          await trx(spec.table).where(spec.key, row[spec.key] as string).update(update);
          crashPoint('rotate:resealing');
          o.onProgress?.(done, total);
        });
      }
      return { from: vault.version, to, resealed: done, checkValue: kcv };
    });
  } finally {
    if (engine === 'sqlite') await k.raw('PRAGMA synchronous = NORMAL');
  }
}

export interface MasterKeyStatus {
  versions: KeyRecord[];
  sealed: number;
}

export async function masterKeyStatus(k: Knex): Promise<MasterKeyStatus> {
  return { versions: await records(k), sealed: await countSealed(k) };
}
