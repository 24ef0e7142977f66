import { Command, Option } from 'commander';
import { describeConfig } from '../config/load.js';
import { migrate, openDb } from '../store/index.js';
import { configFrom, isUserError, UsageError, withStore, type GlobalFlags } from './context.js';
import { importFile, listPrincipals, provisionPrincipal } from './provision.js';
import { runRoles } from './run.js';

// `keyswitch list … | head` closes stdout early; that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = new Command();
program
  .name('keyswitch')
  .description('NGN softswitch with authentication center (AuC) and session border controller (SBC)')
  .option('-c, --config <file>', 'YAML config file (over config/default.yaml, under KEYSWITCH_* and flags)')
  .option('--data-dir <dir>', 'data directory (SQLite file, master key, generated secrets)')
  .option('--db-url <url>', 'postgres://… to use PostgreSQL instead of the embedded SQLite')
  .option('--log-level <level>', 'fatal|error|warn|info|debug|trace')
  .showHelpAfterError();

const g = (): GlobalFlags => program.opts<GlobalFlags>();

program
  .command('up')
  .description('run the whole system on this machine with the embedded store (today: the AuC and its provisioning API)')
  .option('--api-port <port>', 'provisioning API port')
  .action(async (o: { apiPort?: string }) => runRoles(['auc'], g(), { 'auc.api.port': o.apiPort }));

program
  .command('auc')
  .description('run the authentication center alone: provisioning API (and its AuC interfaces)')
  .option('--api-port <port>', 'provisioning API port')
  .action(async (o: { apiPort?: string }) => runRoles(['auc'], g(), { 'auc.api.port': o.apiPort }));

program
  .command('migrate')
  .description('apply database migrations and exit (servers also do this on start)')
  .action(async () => {
    const cfg = configFrom(g());
    const db = await openDb({ dataDir: cfg.dataDir, url: cfg.db.url || undefined });
    try {
      const applied = await migrate(db);
      console.log(`${db.describe}: ${applied.length ? `applied ${applied.join(', ')}` : 'already up to date'}`);
    } finally {
      await db.knex.destroy();
    }
  });

program
  .command('config')
  .description('print the effective configuration (secrets hidden) with each setting\'s environment variable')
  .action(() => {
    for (const row of describeConfig(configFrom(g()))) console.log(`${row.path.padEnd(28)} ${row.env.padEnd(34)} ${row.value}`);
  });

const token = program.command('token').description('operator tokens for the provisioning API');
token
  .command('create')
  .description('create a bearer token and print it once')
  .addOption(new Option('--role <role>', 'admin (read and write) or viewer (read only)').choices(['admin', 'viewer']).makeOptionMandatory())
  .option('--label <text>', 'who or what the token is for', '')
  .action(async (o: { role: 'admin' | 'viewer'; label: string }) =>
    withStore(g(), async (store) => {
      const { token: t, record } = await store.tokens.create(o.role, o.label);
      await store.audit.add('cli', 'token.create', record.id, { role: o.role, label: o.label });
      console.log(t);
      process.stderr.write(`token ${record.id} (${o.role}) created; it is shown this once\n`);
    }),
  );
token
  .command('list')
  .description('list tokens (ids and roles, never the secrets)')
  .action(async () =>
    withStore(g(), async (store) => {
      for (const t of await store.tokens.list()) console.log(`${t.id}\t${t.role}\t${t.revoked ? 'revoked' : 'active'}\t${new Date(t.createdAt).toISOString()}\t${t.label}`);
    }),
  );
token
  .command('revoke <id>')
  .description('revoke a token by its id')
  .action(async (id: string) =>
    withStore(g(), async (store) => {
      if (!(await store.tokens.revoke(id))) throw new UsageError(`no token ${id}`);
      await store.audit.add('cli', 'token.revoke', id);
      console.log(`token ${id} revoked`);
    }),
  );

const provision = program.command('provision').description('provision terminals and proxies straight into the store');
provision
  .command('terminal <idc>')
  .description('create a terminal; without --key a key is generated and printed once')
  .option('--key <hex>', 'the 32-byte long-term key Kc, as 64 hex digits')
  .option('--sip-password <password>', 'SIP Digest password, for phones that do not speak KS1')
  .option('--json', 'print one JSON line')
  .action(async (idc: string, o: { key?: string; sipPassword?: string; json?: boolean }) => provisionPrincipal('terminal', idc, o, g()));
provision
  .command('proxy <idsp>')
  .description('create a proxy (SBC); without --key a key is generated and printed once')
  .option('--key <hex>', 'the 32-byte long-term key Ksp, as 64 hex digits')
  .option('--json', 'print one JSON line')
  .action(async (idsp: string, o: { key?: string; json?: boolean }) => provisionPrincipal('proxy', idsp, o, g()));
provision
  .command('import <file>')
  .description('bulk-create terminals from CSV with header idc,key,sip_password (key optional); re-running changes nothing')
  .option('--keys-out <file>', 'where generated keys go (mode 0600); they are printed nowhere else')
  .option('--json', 'print the report as one JSON line')
  .action(async (file: string, o: { keysOut?: string; json?: boolean }) => {
    process.exitCode = await importFile(file, o, g());
  });

program
  .command('list <what>')
  .description('list terminals or proxies')
  .option('--offset <n>', 'skip this many', '0')
  .option('--limit <n>', 'at most this many', '100')
  .option('--prefix <text>', 'only identities starting with this')
  .option('--json', 'print one JSON document')
  .action(async (what: string, o: { offset: string; limit: string; prefix?: string; json?: boolean }) => listPrincipals(what, o, g()));

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (isUserError(err)) {
    process.stderr.write(`keyswitch: ${(err as Error).message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`keyswitch: ${(err as Error).message}\n`);
    if (process.env.KEYSWITCH_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    process.exitCode = 1;
  }
}
