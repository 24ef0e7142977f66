/**
 * A minimal Kamailio registrar for bench/compare.ts: Digest (qop=auth)
 * against a plain-text subscriber table (db_text, read into memory at start),
 * location kept in memory (usrloc db_mode 0). Two modes:
 * - `plain`: Kamailio's stock registrar handling, answers sent statelessly,
 *   no nonce-count state (the auth module's default);
 * - `parity`: what keyswitch does besides: a transaction per REGISTER (tm)
 *   that absorbs retransmissions, and a nonce-count used twice refused.
 *   (Stateless with nonce-count checks would refuse a retransmitted
 *   REGISTER: the same nonce-count again.)
 * Written into a temp
 * directory, run in the foreground on 127.0.0.1 and an ephemeral port, with
 * its runtime files in that directory: it needs no root and touches nothing
 * outside it. Debian: `apt-get install kamailio` (5.6).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processTree } from './proc-stat.js';

export const KAMAILIO = ['/usr/sbin/kamailio', '/usr/local/sbin/kamailio'].find((p) => existsSync(p));
const MODULES = ['/usr/lib/x86_64-linux-gnu/kamailio/modules', '/usr/lib/aarch64-linux-gnu/kamailio/modules', '/usr/lib/kamailio/modules', '/usr/local/lib64/kamailio/modules'].find((p) => existsSync(p));

export function kamailioVersion(): string {
  if (!KAMAILIO) return 'not installed';
  const out = spawnSync(KAMAILIO, ['-v'], { encoding: 'utf8' }).stdout ?? '';
  return /version: kamailio (\S+)/.exec(out)?.[1] ?? 'unknown';
}

export interface KamailioRegistrar {
  proc: ChildProcess;
  /** The last output (errors only at this log level). */
  output(): string;
  stop(): Promise<void>;
}

/** The config: REGISTER only; a challenge, then the check of the answer, then the binding saved in memory. */
export type KamailioMode = 'plain' | 'parity';

function config(port: number, dbDir: string, children: number, mode: KamailioMode): string {
  const parity = mode === 'parity';
  return `#!KAMAILIO
# bench/compare.ts: minimal registrar, Digest against a plain-text table, location in memory (mode ${mode})
debug=0
log_stderror=yes
children=${children}
disable_tcp=yes
auto_aliases=no
dns=no
rev_dns=no
listen=udp:127.0.0.1:${port}
mpath="${MODULES}/"

${parity ? 'loadmodule "tm.so"\n' : ''}loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "db_text.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"

modparam("usrloc", "db_mode", 0)
${parity ? `# a nonce-count used twice is refused (keyswitch keeps the same state). With the default
# table (2^20 nonces, older entries overwritten) some good answers were refused at 3,500/s
# here; 2^23 (8 MB of shared memory) refused none
modparam("auth", "nonce_count", 1)
modparam("auth", "nc_array_order", 23)
` : ''}modparam("auth_db", "db_url", "text://${dbDir}")
modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")

request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (method != "REGISTER") { sl_send_reply("405", "Method Not Allowed"); exit; }
${parity ? `  # a transaction per REGISTER, as keyswitch keeps: a retransmission gets the answer
  # already sent (not a second check of the same nonce-count); replies go out through it
  if (!t_newtran()) { sl_reply_error(); exit; }
` : ''}  # 1: the authentication user must be the From user; "1" to auth_challenge: qop=auth
  if (!auth_check("$fd", "subscriber", "1")) { auth_challenge("$fd", "1"); exit; }
  consume_credentials();
  if (!save("location")) sl_reply_error();
  exit;
}
`;
}

/** Writes the config and the subscriber table for `users` into `dir`, starts Kamailio and waits until its workers run. */
export async function startKamailio(opts: { dir: string; port: number; users: { user: string; password: string }[]; children: number; mode: KamailioMode }): Promise<KamailioRegistrar> {
  if (!KAMAILIO || !MODULES) throw new Error('kamailio is not installed (Debian: apt-get install kamailio)');
  const dbDir = join(opts.dir, 'db');
  const runDir = join(opts.dir, 'run');
  mkdirSync(dbDir, { recursive: true });
  mkdirSync(runDir, { recursive: true });
  // db_text: a header line of typed columns, then rows separated by ':'
  writeFileSync(join(dbDir, 'version'), 'table_name(string) table_version(int)\nsubscriber:7\n');
  writeFileSync(
    join(dbDir, 'subscriber'),
    'id(int,auto) username(string) domain(string) password(string)\n' + opts.users.map((u, i) => `${i + 1}:${u.user}:127.0.0.1:${u.password}`).join('\n') + '\n',
  );
  const cfg = join(opts.dir, 'kamailio.cfg');
  writeFileSync(cfg, config(opts.port, dbDir, opts.children, opts.mode));
  // -DD: stay in the foreground (workers are still forked), -E: log to stderr,
  // -Y/-P: runtime directory and pid file in our temp dir; shared memory: parity keeps each transaction
  // ~5 s after its answer (~470 MB at 3,500 registrations/s), plain needs ~10 MB; 8 MB private per process
  const proc = spawn(KAMAILIO, ['-f', cfg, '-DD', '-E', '-Y', runDir, '-P', join(runDir, 'kamailio.pid'), '-m', opts.mode === 'parity' ? '1024' : '64', '-M', '8'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-8000));
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM'); // the main process stops its workers
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  // Ready when the workers are forked: 1 main + UDP workers + timers and the like.
  const t0 = Date.now();
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`kamailio exited ${proc.exitCode}: ${out}`);
    if (Date.now() - t0 > 15_000) {
      await stop();
      throw new Error(`kamailio not ready in 15 s: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
    if (processTree(proc.pid!).length > opts.children) break;
  }
  await new Promise((r) => setTimeout(r, 500));
  return { proc, output: () => out, stop };
}
