import { readFileSync } from 'node:fs';
import { importTerminalsCsv, keylessRows, type ImportReport } from '../auc/import.js';
import { Operations, principalView } from '../auc/operations.js';
import { createPrincipal, createRefusal, isRefusal } from '../auc/provisioning.js';
import { sipPasswordProblem } from '../auc/validate.js';
import type { Principal } from '../store/index.js';
import { cliActor, UsageError, withStore, type GlobalFlags } from './context.js';
import { KeysOutFile } from './keys-out.js';
import { readSecret, StdinOnce } from './secret-input.js';

function printCreated(kind: string, p: Principal, generated: Buffer | undefined, json: boolean): void {
  if (json) {
    console.log(JSON.stringify({ kind, id: p.id, status: p.status, ...(generated ? { key: generated.toString('hex') } : {}) }));
    return;
  }
  console.log(`${kind} ${p.id} created`);
  if (generated) console.log(`key ${generated.toString('hex')}\n(shown this once: give it to the ${kind === 'terminal' ? 'terminal' : 'SBC'} now)`);
}

export interface ProvisionOptions {
  key?: string;
  keyFile?: string;
  keyStdin?: boolean;
  sipPassword?: string;
  sipPasswordFile?: string;
  sipPasswordStdin?: boolean;
  json?: boolean;
}

export async function provisionPrincipal(kind: 'terminal' | 'proxy', id: string, given: ProvisionOptions, flags: GlobalFlags): Promise<void> {
  const stdin = new StdinOnce();
  const opts = {
    key: readSecret('key', { value: given.key, file: given.keyFile, stdin: given.keyStdin }, stdin),
    sipPassword: readSecret('sip-password', { value: given.sipPassword, file: given.sipPasswordFile, stdin: given.sipPasswordStdin }, stdin),
    json: given.json,
  };
  const o = { keyHex: opts.key, sipPassword: opts.sipPassword };
  // refused before the store is opened (and, with --init, made)
  const refusal = createRefusal(kind, id, o)?.message ?? (opts.sipPassword === '' ? sipPasswordProblem('') : undefined); // '' is "none" to the console, refused here
  if (refusal) throw new UsageError(refusal);
  await withStore(flags, async (store) => {
    const r = await createPrincipal(store, kind, id, o, cliActor());
    if (isRefusal(r)) throw new UsageError(r.message);
    printCreated(kind, r.principal, r.key, Boolean(opts.json));
  });
}

/**
 * `provision import`: generated keys go to --keys-out only (src/cli/keys-out.ts),
 * and an import that would generate keys without it is refused before
 * anything is written.
 */
export async function importFile(file: string, opts: { keysOut?: string; json?: boolean }, flags: GlobalFlags): Promise<number> {
  let csv: string;
  try {
    csv = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const keysOut = opts.keysOut ? KeysOutFile.create(opts.keysOut) : undefined;
  let report: ImportReport | undefined;
  try {
    return await withStore(flags, async (store) => {
      if (!keysOut) {
        const missing: string[] = [];
        for (const idc of keylessRows(csv)) if (!(await store.terminals.get(idc))) missing.push(idc);
        if (missing.length) {
          throw new UsageError(`${missing.length} row${missing.length > 1 ? 's have' : ' has'} no key and no terminal yet (first: ${JSON.stringify(missing[0])}); the keys generated for them would be kept nowhere: give --keys-out FILE. Nothing was imported`);
        }
      }
      let last = 0;
      const tty = process.stderr.isTTY;
      report = await importTerminalsCsv(store, csv, {
        actor: cliActor(),
        onProgress(done, total) {
          const now = Date.now();
          if (done === total || now - last > 500) {
            last = now;
            process.stderr.write(`${tty ? '\r' : ''}imported ${done}/${total}${tty && done !== total ? '' : '\n'}`);
          }
        },
        keepKey: keysOut
          ? (g) => keysOut.keep(g)
          : () => {
              // A terminal deleted since the check above would get a key kept nowhere: refuse that row.
              throw new Error('its key would be generated, and there is no --keys-out to keep it');
            },
      });
      return report;
    }).then((r) => summarize(r, opts));
  } finally {
    keysOut?.close(report?.generated);
  }
}

function summarize(report: ImportReport, opts: { keysOut?: string; json?: boolean }): number {
  const summary = { total: report.total, created: report.created, unchanged: report.unchanged, failed: report.failed, errors: report.errors, keysOut: report.generated.length ? opts.keysOut : undefined };
  if (opts.json) console.log(JSON.stringify(summary));
  else {
    console.log(`${report.total} rows: ${report.created} created, ${report.unchanged} unchanged, ${report.failed} failed`);
    for (const e of report.errors) console.log(`line ${e.line}${e.idc ? ` (${JSON.stringify(e.idc)})` : ''}: ${e.message}`);
    if (report.generated.length && opts.keysOut) console.log(`${report.generated.length} generated keys written to ${opts.keysOut} (mode 0600)`);
  }
  return report.failed ? 1 : 0;
}

export async function listPrincipals(what: string, opts: { offset: string; limit: string; prefix?: string; json?: boolean }, flags: GlobalFlags): Promise<void> {
  if (what !== 'terminals' && what !== 'proxies') throw new UsageError(`list what? terminals or proxies, not ${JSON.stringify(what)}`);
  const offset = Number(opts.offset);
  const limit = Number(opts.limit);
  if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(limit) || limit < 1) throw new UsageError('--offset and --limit must be whole numbers');
  await withStore(flags, async (store) => {
    const repo = what === 'terminals' ? store.terminals : store.proxies;
    const raw = await repo.list(offset, limit, opts.prefix);
    // the API's shape: a terminal locked by failures shows status 'locked'
    const items = what === 'terminals' ? await new Operations(store).terminalViews(raw.items) : raw.items.map((p) => principalView(p, { now: store.now() }));
    const page = { ...raw, items };
    if (opts.json) {
      console.log(JSON.stringify(page));
      return;
    }
    for (const p of page.items) {
      console.log(`${p.id}\t${p.status}${p.lockedUntil ? ` until ${p.lockedUntil}` : ''}\tkey-gen ${p.keyGeneration}${p.hasSipPassword ? '\tsip-password' : ''}\t${p.createdAt}`);
    }
    console.log(`(${page.items.length} of ${page.total}${page.total > offset + page.items.length ? `; next: --offset ${offset + page.items.length}` : ''})`);
  });
}
