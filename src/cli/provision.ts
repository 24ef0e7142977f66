import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { importTerminalsCsv } from '../auc/import.js';
import { identityProblem, keyProblem, sipPasswordProblem } from '../auc/validate.js';
import { DuplicateError, type Principal } from '../store/index.js';
import { cliActor, UsageError, withStore, type GlobalFlags } from './context.js';

function check(problem: string | undefined): void {
  if (problem) throw new UsageError(problem);
}

function printCreated(kind: string, p: Principal, generated: Buffer | undefined, json: boolean): void {
  if (json) {
    console.log(JSON.stringify({ kind, id: p.id, status: p.status, ...(generated ? { key: generated.toString('hex') } : {}) }));
    return;
  }
  console.log(`${kind} ${p.id} created`);
  if (generated) console.log(`key ${generated.toString('hex')}\n(shown this once: give it to the ${kind === 'terminal' ? 'terminal' : 'SBC'} now)`);
}

export async function provisionPrincipal(
  kind: 'terminal' | 'proxy',
  id: string,
  opts: { key?: string; sipPassword?: string; json?: boolean },
  flags: GlobalFlags,
): Promise<void> {
  check(identityProblem(id));
  if (opts.key) check(keyProblem(opts.key));
  if (opts.sipPassword !== undefined) check(sipPasswordProblem(opts.sipPassword));
  await withStore(flags, async (store) => {
    const repo = kind === 'terminal' ? store.terminals : store.proxies;
    const key = opts.key ? Buffer.from(opts.key, 'hex') : randomBytes(32);
    try {
      const p = await repo.create(id, key, opts.sipPassword);
      await store.audit.add(cliActor(), `${kind}.create`, id, { keyGenerated: !opts.key, sipPassword: opts.sipPassword !== undefined });
      printCreated(kind, p, opts.key ? undefined : key, Boolean(opts.json));
    } catch (err) {
      if (err instanceof DuplicateError) throw new UsageError(err.message);
      throw err;
    }
  });
}

export async function importFile(file: string, opts: { keysOut?: string; json?: boolean }, flags: GlobalFlags): Promise<number> {
  let csv: string;
  try {
    csv = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  return withStore(flags, async (store) => {
    let last = 0;
    const tty = process.stderr.isTTY;
    const report = await importTerminalsCsv(store, csv, {
      actor: cliActor(),
      onProgress(done, total) {
        const now = Date.now();
        if (done === total || now - last > 500) {
          last = now;
          process.stderr.write(`${tty ? '\r' : ''}imported ${done}/${total}${tty && done !== total ? '' : '\n'}`);
        }
      },
    });
    if (report.generated.length) {
      if (!opts.keysOut) {
        // Keys were generated and stored: losing them would strand the terminals, so refuse to be silent.
        process.stderr.write(`warning: ${report.generated.length} keys were generated but --keys-out was not given; rotate those terminals to obtain keys\n`);
      } else {
        const lines = ['idc,key', ...report.generated.map((g) => `${csvField(g.idc)},${g.key}`)];
        writeFileSync(opts.keysOut, lines.join('\n') + '\n', { mode: 0o600, flag: 'w' });
      }
    }
    const summary = { total: report.total, created: report.created, unchanged: report.unchanged, failed: report.failed, errors: report.errors, keysOut: report.generated.length ? opts.keysOut : undefined };
    if (opts.json) console.log(JSON.stringify(summary));
    else {
      console.log(`${report.total} rows: ${report.created} created, ${report.unchanged} unchanged, ${report.failed} failed`);
      for (const e of report.errors) console.log(`line ${e.line}${e.idc ? ` (${JSON.stringify(e.idc)})` : ''}: ${e.message}`);
      if (report.generated.length && opts.keysOut) console.log(`${report.generated.length} generated keys written to ${opts.keysOut} (mode 0600)`);
    }
    return report.failed ? 1 : 0;
  });
}

function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export async function listPrincipals(what: string, opts: { offset: string; limit: string; prefix?: string; json?: boolean }, flags: GlobalFlags): Promise<void> {
  if (what !== 'terminals' && what !== 'proxies') throw new UsageError(`list what? terminals or proxies, not ${JSON.stringify(what)}`);
  const offset = Number(opts.offset);
  const limit = Number(opts.limit);
  if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(limit) || limit < 1) throw new UsageError('--offset and --limit must be whole numbers');
  await withStore(flags, async (store) => {
    const repo = what === 'terminals' ? store.terminals : store.proxies;
    const page = await repo.list(offset, limit, opts.prefix);
    if (opts.json) {
      console.log(JSON.stringify(page));
      return;
    }
    for (const p of page.items) {
      console.log(`${p.id}\t${p.status}\tkey-gen ${p.keyGeneration}${p.hasSipPassword ? '\tsip-password' : ''}\t${new Date(p.createdAt).toISOString()}`);
    }
    console.log(`(${page.items.length} of ${page.total}${page.total > offset + page.items.length ? `; next: --offset ${offset + page.items.length}` : ''})`);
  });
}
