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
  /** Provisioned with generated keys before the daemon starts; some with a SIP Digest password too. */
  terminals?: Array<string | { idc: string; sipPassword: string }>;
  /** Added to upEnv's (KEYSWITCH_LOG_LEVEL is warn unless given); a function gets the ports (to start a relay on one, say). */
  env?: NodeJS.ProcessEnv | ((ports: Record<string, number>) => NodeJS.ProcessEnv | Promise<NodeJS.ProcessEnv>);
  /** KEYSWITCH_DB_URL: the postgres engine's, or '' for the embedded store (absent: not set). */
  dbUrl?: string;
  /** Runs after the terminals are provisioned, before the daemon starts (tokens, say). */
  before?: (ks: Up['ks']) => void;
  ready?: RegExp;
  prefix?: string;
}): Promise<Up> {
  const dir = mkdtempSync(join(tmpdir(), o.prefix ?? 'ks-up-'));
  const g = ['--data-dir', join(dir, 'data')];
  try {
    const up = await upEnv();
    const extra = typeof o.env === 'function' ? await o.env(up.ports) : (o.env ?? {});
    const env: NodeJS.ProcessEnv = { ...up.env, KEYSWITCH_LOG_LEVEL: 'warn', ...(o.dbUrl !== undefined ? { KEYSWITCH_DB_URL: o.dbUrl } : {}), ...extra };
    const run = (args: string[], input?: string) => ks([...g, ...args], env, input);
    const keys: Record<string, string> = {};
    for (const t of o.terminals ?? []) {
      const idc = typeof t === 'string' ? t : t.idc;
      const r = run(['--init', 'provision', 'terminal', idc, ...(typeof t === 'string' ? [] : ['--sip-password', t.sipPassword]), '--json']);
      if (r.code !== 0) throw new Error(`provision terminal ${idc} failed (${r.code}): ${r.stderr}`);
      keys[idc] = JSON.parse(r.stdout).key;
    }
    o.before?.(run);
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
