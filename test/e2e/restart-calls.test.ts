/**
 * `keyswitch up` stopped and started again on the same data directory: the
 * bindings registered before the restart are still in the store, the SBC's
 * sessions and contacts are gone, and the SBC's core-side port is a new one.
 * Terminals that register again must be reachable at once.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ks, startDaemon, type Daemon } from '../helpers/cli.js';
import { upEnv } from '../helpers/ports.js';

interface Run {
  events: () => string[];
  /** Resolves when a line with this event has been printed. */
  saw(event: string): Promise<void>;
  exit: Promise<number | null>;
  kill(): void;
}

/** A `keyswitch terminal …` process; its JSON lines are collected as they come. */
function terminal(args: string[], env: NodeJS.ProcessEnv): Run {
  const proc = spawn(process.execPath, [BIN, 'terminal', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: string[] = [];
  const waiters: Array<{ event: string; resolve: () => void }> = [];
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        const e = (JSON.parse(line) as { event: string }).event;
        events.push(e);
        for (const w of waiters.filter((x) => x.event === e)) w.resolve();
      } catch {
        // not a JSON event line
      }
    }
  });
  proc.stderr!.resume();
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    events: () => [...events],
    saw: (event) => (events.includes(event) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ event, resolve }))),
    exit,
    kill: () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
    },
  };
}

describe('calls after `keyswitch up` restarts on the same data directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-restart-'));
  const g = ['--data-dir', join(dir, 'data')];
  const keys: Record<string, string> = {};
  let env: NodeJS.ProcessEnv;
  let sbc: string;
  let daemon: Daemon | undefined;
  const runs: Run[] = [];

  const up = async () => {
    ({ daemon } = await startDaemon([...g, 'up'], /SBC H\.248 \(gateways\)/, env));
  };
  /** bob answers one call, alice places it; both register first. */
  const call = async (mechs: string[]) => {
    const bob = terminal(['answer', '--id', 'bob@lab.example', '--key', keys.bob!, '--sbc', sbc, '--calls', '1', '--timeout', '30', ...mechs], env);
    runs.push(bob);
    await Promise.race([bob.saw('registered'), bob.exit.then(() => undefined)]);
    expect(bob.events()).toContain('registered');
    const alice = terminal(['call', '--id', 'alice@lab.example', '--key', keys.alice!, '--sbc', sbc, '--to', 'bob@lab.example', '--hold', '0', ...mechs], env);
    runs.push(alice);
    return { alice: { code: await alice.exit, events: alice.events() }, bob: { code: await bob.exit, events: bob.events() } };
  };

  beforeAll(async () => {
    const u = await upEnv();
    env = { ...u.env, KEYSWITCH_LOG_LEVEL: 'warn' };
    sbc = `127.0.0.1:${u.ports.sbcSip}`;
    for (const who of ['alice', 'bob']) {
      const r = ks([...g, '--init', 'provision', 'terminal', `${who}@lab.example`, '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      keys[who] = JSON.parse(r.stdout).key;
    }
  });
  afterAll(async () => {
    for (const r of runs) r.kill();
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a call before the restart and one after it are both answered', async () => {
    await up();
    const first = await call([]); // default mechanisms: tls-psk
    expect(first.alice.events).toEqual(['registered', 'calling', 'ringing', 'answered', 'bye']);
    expect(first.alice.code).toBe(0);
    expect(first.bob.code).toBe(0);
    expect(await daemon!.stop()).not.toBeNull();

    // the bindings above are still live in the store; the SBC that held their flows is gone
    await up();
    const second = await call(['--mechs', 'app-hmac']);
    expect(second.alice.events).toEqual(['registered', 'calling', 'ringing', 'answered', 'bye']);
    expect(second.alice.code).toBe(0);
    expect(second.bob.events).toEqual(['registered', 'incoming', 'ringing', 'answered', 'confirmed', 'bye']);
    expect(second.bob.code).toBe(0);
  }, 90_000);
});
