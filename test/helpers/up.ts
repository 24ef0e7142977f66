/**
 * One `keyswitch up` for a test file: a temp data dir, every listener on a
 * free port (upEnv), the terminals provisioned with generated keys, the
 * daemon started and awaited. `stop()` stops it and removes the dir.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ks, startDaemon, type Daemon } from './cli.js';
import { upEnv } from './ports.js';

export interface Up {
  dir: string;
  /** The global flags naming the data dir. */
  g: string[];
  env: NodeJS.ProcessEnv;
  ports: Record<string, number>;
  /** Each terminal's generated key, as 64 hex digits. */
  keys: Record<string, string>;
  daemon: Daemon;
  /** What `ready` matched in the daemon's output. */
  match: RegExpMatchArray;
  /** `keyswitch <args>` on this data dir and environment. */
  ks(args: string[], input?: string): ReturnType<typeof ks>;
  stop(): Promise<void>;
}

export async function startUp(o: {
  terminals?: string[];
  /** Added to upEnv's (KEYSWITCH_LOG_LEVEL is warn unless given); a function gets the ports. */
  env?: NodeJS.ProcessEnv | ((ports: Record<string, number>) => NodeJS.ProcessEnv);
  /** KEYSWITCH_DB_URL for the postgres engine ('' or absent: the embedded store). */
  dbUrl?: string;
  ready?: RegExp;
  prefix?: string;
}): Promise<Up> {
  const dir = mkdtempSync(join(tmpdir(), o.prefix ?? 'ks-up-'));
  const g = ['--data-dir', join(dir, 'data')];
  try {
    const up = await upEnv();
    const extra = typeof o.env === 'function' ? o.env(up.ports) : (o.env ?? {});
    const env: NodeJS.ProcessEnv = { ...up.env, KEYSWITCH_LOG_LEVEL: 'warn', ...(o.dbUrl ? { KEYSWITCH_DB_URL: o.dbUrl } : {}), ...extra };
    const run = (args: string[], input?: string) => ks([...g, ...args], env, input);
    const keys: Record<string, string> = {};
    for (const idc of o.terminals ?? []) {
      const r = run(['--init', 'provision', 'terminal', idc, '--json']);
      if (r.code !== 0) throw new Error(`provision terminal ${idc} failed (${r.code}): ${r.stderr}`);
      keys[idc] = JSON.parse(r.stdout).key;
    }
    const { daemon, match } = await startDaemon([...g, 'up'], o.ready ?? /SBC H\.248 \(gateways\)/, env);
    return {
      dir,
      g,
      env,
      ports: up.ports,
      keys,
      daemon,
      match,
      ks: run,
      async stop() {
        await daemon.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
