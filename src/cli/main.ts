import { Command, Option } from 'commander';
import { describeConfig } from '../config/load.js';
import { configFrom, isUserError, UsageError, withStore, type GlobalFlags } from './context.js';
import { importFile, listPrincipals, provisionPrincipal, type ProvisionOptions } from './provision.js';
import { addOperatorCommands } from './operator-commands.js';
import { addIdsCommands } from './ids-commands.js';
import { addVoicemailCommands } from './voicemail-commands.js';
import type { RoleName } from './run.js';
import { readSecret, secretHelp, StdinOnce } from './secret-input.js';

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
  .option('--db-url <url>', 'postgres://… to use PostgreSQL instead of the embedded SQLite (with a password, prefer KEYSWITCH_DB_URL: arguments show in ps)')
  .option('--init', 'create the data directory (mode 0700) and a first master key if they do not exist; without it only up and the roles create them')
  .option('--log-level <level>', 'fatal|error|warn|info|debug|trace')
  .addHelpText('after', '\nEvery command that uses the store first prints "store: …" (which one) on stderr.')
  .showHelpAfterError();

const g = (): GlobalFlags => program.opts<GlobalFlags>();
// The roles (and their metrics, logger and protocol stacks) are loaded only by the commands that run them.
const runRoles = async (roles: RoleName[], flags: GlobalFlags, extra: Record<string, string | undefined>) => (await import('./run.js')).runRoles(roles, flags, extra);

program
  .command('up')
  .description('run the whole system on this machine: AuC, softswitch, SBC and the voicemail media server with the embedded store (provisions its own SBC at first start)')
  .option('--api-port <port>', 'provisioning API port')
  .action(async (o: { apiPort?: string }) => runRoles(['auc', 'softswitch', 'sbc', 'media'], g(), { 'auc.api.port': o.apiPort }));

program
  .command('auc')
  .description('run the authentication center alone: provisioning API, RADIUS and Diameter servers')
  .option('--api-port <port>', 'provisioning API port')
  .action(async (o: { apiPort?: string }) => runRoles(['auc'], g(), { 'auc.api.port': o.apiPort }));

program
  .command('softswitch')
  .description('run the softswitch alone: SIP registrar (KS1, Digest), MGCP call agent, H.248 MGC; reaches the AuC over RADIUS or Diameter')
  .option('--auc-protocol <radius|diameter>', 'how to reach the AuC')
  .option('--auc-peers <list>', 'AuC peers host:port, comma-separated, in failover order')
  .action(async (o: { aucProtocol?: string; aucPeers?: string }) => runRoles(['softswitch'], g(), { 'softswitch.auc.protocol': o.aucProtocol, 'softswitch.auc.peers': o.aucPeers }));

program
  .command('sbc')
  .description('run the session border controller alone: SIP (UDP, TCP, TLS, TLS-PSK), MGCP and H.248 toward terminals; the softswitch behind it')
  .option('--softswitch <list>', 'the softswitch SIP address host:port; several comma-separated, in failover order')
  .action(async (o: { softswitch?: string }) => runRoles(['sbc'], g(), { 'sbc.softswitch': o.softswitch }));

program
  .command('media')
  .description('run the voicemail media server alone: a SIP user agent behind the softswitch that records, encrypts and deposits messages and streams them back (docs/voicemail.md)')
  .option('--licence <host:port>', 'the licence server HTTPS address')
  .action(async (o: { licence?: string }) => runRoles(['media'], g(), { 'media.licence': o.licence }));

program
  .command('migrate')
  .description('apply database migrations and exit (servers also do this on start)')
  .option('--json', 'print one JSON line')
  .action(async (o: { json?: boolean }) =>
    withStore(g(), async (store) => {
      if (o.json) console.log(JSON.stringify({ store: store.db.describe, applied: store.migrations }));
      else console.log(`${store.db.describe}: ${store.migrations.length ? `applied ${store.migrations.join(', ')}` : 'already up to date'}`);
    }),
  );

program
  .command('config')
  .description('print the effective configuration (secrets hidden) with each setting\'s environment variable')
  .option('--json', 'print one JSON line')
  .action((o: { json?: boolean }) => {
    const rows = describeConfig(configFrom(g()));
    if (o.json) console.log(JSON.stringify({ items: rows.map((r) => ({ path: r.path, env: r.env, value: r.value })) }));
    else for (const row of rows) console.log(`${row.path.padEnd(28)} ${row.env.padEnd(34)} ${row.value}`);
  });

const token = program.command('token').description('operator tokens for the provisioning API');
token
  .command('create')
  .description('create a bearer token and print it once')
  .addOption(new Option('--role <role>', 'admin (read and write) or viewer (read only)').choices(['admin', 'viewer']).makeOptionMandatory())
  .option('--label <text>', 'who or what the token is for', '')
  .option('--json', 'print one JSON line (with the token, shown this once)')
  .action(async (o: { role: 'admin' | 'viewer'; label: string; json?: boolean }) =>
    withStore(g(), async (store) => {
      const { token: t, record } = await store.tokens.create(o.role, o.label);
      await store.audit.add('cli', 'token.create', record.id, { role: o.role, label: o.label });
      console.log(o.json ? JSON.stringify({ token: t, id: record.id, role: record.role, label: record.label, createdAt: new Date(record.createdAt).toISOString() }) : t);
      process.stderr.write(`token ${record.id} (${o.role}) created; it is shown this once\n`);
    }),
  );
token
  .command('list')
  .description('list tokens (ids and roles, never the secrets)')
  .option('--json', 'print one JSON line')
  .action(async (o: { json?: boolean }) =>
    withStore(g(), async (store) => {
      const list = await store.tokens.list();
      if (o.json) console.log(JSON.stringify({ items: list.map((t) => ({ id: t.id, role: t.role, label: t.label, status: t.revoked ? 'revoked' : 'active', createdAt: new Date(t.createdAt).toISOString() })) }));
      else for (const t of list) console.log(`${t.id}\t${t.role}\t${t.revoked ? 'revoked' : 'active'}\t${new Date(t.createdAt).toISOString()}\t${t.label}`);
    }),
  );
token
  .command('revoke <id>')
  .description('revoke a token by its id')
  .option('--json', 'print one JSON line')
  .action(async (id: string, o: { json?: boolean }) =>
    withStore(g(), async (store) => {
      if (!(await store.tokens.revoke(id))) throw new UsageError(`no token ${id}`);
      await store.audit.add('cli', 'token.revoke', id);
      console.log(o.json ? JSON.stringify({ id, status: 'revoked' }) : `token ${id} revoked`);
    }),
  );

/** --NAME, --NAME-file, --NAME-stdin: a secret that can stay off the command line (src/cli/secret-input.ts). */
const secretOptions = (c: Command, name: string, arg: string, what: string) => {
  const h = secretHelp(name, what);
  return c.option(`--${name} <${arg}>`, h.value).option(`--${name}-file <path>`, h.file).option(`--${name}-stdin`, h.stdin);
};

const provision = program.command('provision').description('provision terminals and proxies straight into the store');
secretOptions(
  secretOptions(provision.command('terminal <idc>').description('create a terminal; without a key a key is generated and printed once'), 'key', 'hex', 'the 32-byte long-term key Kc, as 64 hex digits'),
  'sip-password',
  'password',
  'SIP Digest password, for phones that do not speak KS1',
)
  .option('--json', 'print one JSON line')
  .action(async (idc: string, o: ProvisionOptions) => provisionPrincipal('terminal', idc, o, g()));
secretOptions(provision.command('proxy <idsp>').description('create a proxy (SBC); without a key a key is generated and printed once'), 'key', 'hex', 'the 32-byte long-term key Ksp, as 64 hex digits')
  .option('--json', 'print one JSON line')
  .action(async (idsp: string, o: ProvisionOptions) => provisionPrincipal('proxy', idsp, o, g()));
provision
  .command('import <file>')
  .description('bulk-create terminals from CSV with header idc,key,sip_password (key optional); re-running changes nothing')
  .option('--keys-out <file>', 'a new file for the generated keys (mode 0600, never overwritten; each key is on disk before its terminal exists); they are written nowhere else, so an import that must generate keys needs it')
  .option('--json', 'print the report as one JSON line')
  .action(async (file: string, o: { keysOut?: string; json?: boolean }) => {
    process.exitCode = await importFile(file, o, g());
  });

const terminal = program.command('terminal').description('act as a terminal: register through an SBC with KS1');
terminal
  .command('register')
  .description('register (KS1 through the SBC), verify the MAC, apply the mechanism; prints one JSON line; exit 0 ok, 2 authentication failed, 1 other error')
  .option('--proto <proto>', 'sip, mgcp, h248 or h323', 'sip')
  .option('--id <idc>', 'the terminal identity IDc')
  .option('--key <hex>', secretHelp('key', 'its long-term key Kc (64 hex digits)').value)
  .option('--key-file <path>', secretHelp('key', '').file)
  .option('--key-stdin', secretHelp('key', '').stdin)
  .option('--sbc <host:port>', 'the SBC (default port 5060 sip, 2727 mgcp, 2944 h248, 1719 h323)', '127.0.0.1')
  .option('--mechs <list>', 'mechanisms with priorities, e.g. "tls-psk;q=0.5, app-hmac;q=0.3"')
  .option('--transport <udp|tcp>', 'SIP transport for the registration', 'udp')
  .option('--idsp <id>', 'insist on this SBC identity')
  .option('--ca-file <pem>', 'SBC certificate or CA, for the tls mechanism')
  .option('--keys-file <csv>', 'many terminals: CSV idc,key (as provision import --keys-out writes)')
  .option('--count <n>', 'register this many terminals from --keys-file')
  .option('--rate <r>', 'registrations started per second with --count', '10')
  .option('--timeout <seconds>', 'give up a registration the SBC does not complete within this (exit 1)', '10')
  .action(async (o: { proto: string; id?: string; key?: string; keyFile?: string; keyStdin?: boolean; sbc: string; mechs?: string; transport: string; idsp?: string; caFile?: string; keysFile?: string; count?: string; rate: string; timeout: string }) => {
    const key = terminalKey(o);
    if (key === null) return;
    const { keyFile: _f, keyStdin: _s, ...rest } = o;
    const { runTerminalRegister } = await import('./terminal.js');
    process.exitCode = await runTerminalRegister({ ...rest, ...(key !== undefined ? { key } : {}) });
  });

/** The terminal's key from --key, --key-file or stdin; null (and exit 1, as for other errors of these commands) when that fails. */
function terminalKey(o: { key?: string; keyFile?: string; keyStdin?: boolean }): string | undefined | null {
  try {
    return readSecret('key', { value: o.key, file: o.keyFile, stdin: o.keyStdin }, new StdinOnce());
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    process.exitCode = 1;
    return null;
  }
}

const callOptions = (c: Command) =>
  c
    .requiredOption('--id <idc>', 'the terminal identity IDc')
    .option('--key <hex>', secretHelp('key', 'its long-term key Kc (64 hex digits)').value)
    .option('--key-file <path>', secretHelp('key', '').file)
    .option('--key-stdin', secretHelp('key', '').stdin)
    .option('--sbc <host:port>', 'the SBC', '127.0.0.1:5060')
    .option('--mechs <list>', 'mechanisms with priorities')
    .option('--transport <udp|tcp>', 'SIP transport for the registration', 'udp')
    .option('--idsp <id>', 'insist on this SBC identity')
    .option('--ca-file <pem>', 'SBC certificate or CA, for the tls mechanism');
callOptions(terminal.command('call'))
  .description('register, call another terminal (INVITE, answer, ACK), hold, hang up (BYE); one JSON line per event; exit 0 ok, 2 authentication failed, 1 other')
  .requiredOption('--to <aor>', 'who to call, e.g. bob@lab.example')
  .option('--hold <seconds>', 'how long to hold the call', '5')
  .option('--timeout <seconds>', 'give up (exit 1) when the SBC does not complete the registration, answer the INVITE or the BYE within this', '10')
  .option('--tone <Hz>', 'while the call is up (--hold seconds) send G.711 RTP of this tone, in the law the answer chose, to the answer\'s SDP address')
  .option('--dtmf <digits>', 'after the tone send these keys as RFC 4733 telephone-events, then BYE; to leave a voicemail: "#" ends the recording, a second "#" saves (docs/voicemail.md)')
  .action(async (o: { id: string; key?: string; keyFile?: string; keyStdin?: boolean; sbc: string; to: string; hold: string; timeout: string; mechs?: string; transport: string; idsp?: string; caFile?: string; tone?: string; dtmf?: string }) => {
    const key = terminalKey(o);
    if (key === null) return;
    const { keyFile: _f, keyStdin: _s, ...rest } = o;
    const { runTerminalCall } = await import('./terminal-call.js');
    process.exitCode = await runTerminalCall({ proto: 'sip', ...rest, key: key ?? '' });
  });
callOptions(terminal.command('answer'))
  .description('register, then answer incoming calls until --calls are done or --timeout passes; one JSON line per event')
  .option('--calls <n>', 'calls to answer before exiting', '1')
  .option('--timeout <seconds>', 'give up waiting for calls after this long; the registration itself must end within 10 s (or this, if shorter)')
  .option('--ring <ms>', 'ring this long before answering', '0')
  .option('--hang-up <seconds>', 'hang up (BYE) each call this long after answering; default: the caller hangs up')
  .action(async (o: { id: string; key?: string; keyFile?: string; keyStdin?: boolean; sbc: string; calls: string; timeout?: string; ring: string; hangUp?: string; mechs?: string; transport: string; idsp?: string; caFile?: string }) => {
    const key = terminalKey(o);
    if (key === null) return;
    const { keyFile: _f, keyStdin: _s, ...rest } = o;
    const { runTerminalAnswer } = await import('./terminal-call.js');
    process.exitCode = await runTerminalAnswer({ proto: 'sip', ...rest, key: key ?? '' });
  });

callOptions(terminal.command('voicemail'))
  .description('retrieve a voicemail message over SIP: register, INVITE sip:<user>.<message>@<domain> with a=drm:ksdrm, fetch the licence over HTTPS from the address the answer names, receive the streamed package, decrypt it and write a WAV (16-bit PCM, 8 kHz); prints one JSON line (messageId, caller, seconds, playsLeft; never the key); exit 0 ok, 2 refused (not yours, plays spent, wrong password, authentication), 1 other or timeout. Message ids: `keyswitch voicemail list`, the MESSAGE the phone got, or the web page')
  .requiredOption('--message <id>', 'the message id (32 hex digits)')
  .requiredOption('--out <file.wav>', 'where to write the audio')
  .option('--password <password>', secretHelp('password', 'the subscriber\'s voicemail password (or SIP password), for the licence server').value)
  .option('--password-file <path>', secretHelp('password', '').file)
  .option('--password-stdin', secretHelp('password', '').stdin)
  .option('--licence-cert <pem>', 'the licence server\'s certificate, the only one trusted (default: media.licenceCert, else auc.licence.certFile, else licence-cert.pem in the data directory)')
  .option('--timeout <seconds>', 'each exchange (registration, INVITE, licence) and any pause of the stream must end within this (exit 1)', '10')
  .action(async (o: { id: string; key?: string; keyFile?: string; keyStdin?: boolean; password?: string; passwordFile?: string; passwordStdin?: boolean; sbc: string; message: string; out: string; licenceCert?: string; timeout: string; mechs?: string; transport: string; idsp?: string; caFile?: string }) => {
    let key: string | undefined;
    let password: string | undefined;
    let licenceCertFile = o.licenceCert;
    try {
      const stdin = new StdinOnce();
      key = readSecret('key', { value: o.key, file: o.keyFile, stdin: o.keyStdin }, stdin);
      password = readSecret('password', { value: o.password, file: o.passwordFile, stdin: o.passwordStdin }, stdin);
      if (!licenceCertFile) {
        const { configFrom } = await import('./context.js');
        const { join } = await import('node:path');
        const cfg = configFrom(g());
        licenceCertFile = cfg.media.licenceCert || cfg.auc.licence.certFile || join(cfg.dataDir, 'licence-cert.pem');
      }
    } catch (e) {
      process.stderr.write(`error: ${(e as Error).message}\n`);
      process.exitCode = 1;
      return;
    }
    const { runTerminalVoicemail } = await import('./terminal-voicemail.js');
    const { keyFile: _f, keyStdin: _s, passwordFile: _pf, passwordStdin: _ps, out, licenceCert: _lc, ...rest } = o;
    process.exitCode = await runTerminalVoicemail({ ...rest, key: key ?? '', password: password ?? '', outFile: out, licenceCertFile });
  });

const masterKey = program.command('master-key').description('the master key that seals long-term keys at rest (docs/auc.md)');
masterKey
  .command('status')
  .description('check that the configured master key opens the database; print its version, check value and the number of sealed values')
  .option('--json', 'print one JSON line')
  .action(async (o: { json?: boolean }) => {
    const { masterKeyStatusCommand } = await import('./master-key.js');
    await masterKeyStatusCommand(g(), Boolean(o.json));
  });
masterKey
  .command('rotate')
  .description('re-seal every sealed value (terminal and proxy keys, SIP passwords, SBC signing keys) under a new master key, in one transaction')
  .option('--new-key-file <path>', 'the new key (64 hex digits) from this file; default: generated into the data directory. Required when the key is configured (KEYSWITCH_MASTER_KEY)')
  .option('--keep-old', 'keep the previous key as master.key.v<version> (it opens only database backups made before the rotation)')
  .option('--json', 'print the outcome as one JSON line (progress still goes to stderr)')
  .addHelpText(
    'after',
    `
Stop every role that uses this store first, and restart them afterwards: a
running role keeps the old key and can no longer open what is re-sealed.

With master.key in the data directory the new key is written to
master.key.new, the database is re-sealed in one transaction, then
master.key.new replaces master.key (the old file is kept as
master.key.v<version> until the end). A crash at any point leaves a store that
opens: before the commit with the old master.key, after it with the new key,
which the next start puts in place itself. Progress goes to stderr.`,
  )
  .action(async (o: { newKeyFile?: string; keepOld?: boolean; json?: boolean }) => {
    const { masterKeyRotateCommand } = await import('./master-key.js');
    await masterKeyRotateCommand(o, g());
  });

const pool = program.command('pool').description('the key pair several SBC instances share');
pool
  .command('init')
  .description('generate the pool key pair and certificate into a directory (private key mode 0600)')
  .requiredOption('--out <dir>', 'where to write pool.key and pool.crt')
  .option('--common-name <cn>', 'certificate subject common name')
  .option('--valid-days <n>', 'certificate validity in days')
  .option('--force', 'overwrite existing files')
  .option('--json', 'print one JSON line')
  .action(async (o: { out: string; commonName?: string; validDays?: string; force?: boolean; json?: boolean }) => {
    const { runPoolInit } = await import('./pool.js');
    process.exitCode = runPoolInit({ out: o.out, ...(o.commonName ? { commonName: o.commonName } : {}), ...(o.validDays ? { validDays: Number(o.validDays) } : {}), force: Boolean(o.force), json: Boolean(o.json) });
  });

program
  .command('list <what>')
  .description('list terminals or proxies')
  .option('--offset <n>', 'skip this many', '0')
  .option('--limit <n>', 'at most this many', '100')
  .option('--prefix <text>', 'only identities starting with this')
  .option('--json', 'print one JSON document')
  .action(async (what: string, o: { offset: string; limit: string; prefix?: string; json?: boolean }) => listPrincipals(what, o, g()));

// show, rotate, disable, enable, delete, sip-password, unlock, registrations, failures, blocked, sources, audit
addOperatorCommands(program, g);
addIdsCommands(program, g);
addVoicemailCommands(program, g);

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
