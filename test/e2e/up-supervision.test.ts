/**
 * `keyswitch up` runs each role in its own process under a supervisor
 * (docs/deploy.md): the roles are separate processes; a role that dies is
 * restarted (the supervisor's /healthz says so meanwhile, and counts it);
 * signalling goes over real sockets, so a terminal registers through the
 * restarted SBC; and SIGTERM stops every role with the supervisor, exit 0.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ks } from '../helpers/cli.js';
import { startUp, type Up } from '../helpers/up.js';

/** The children of a process, by the title each role gives itself (`keyswitch up: sbc`). */
function roleProcesses(parent: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== parent) continue;
      const title = readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0+/g, ' ').trim();
      const m = /^keyswitch up: (\w+)/.exec(title);
      if (m) out.set(m[1]!, Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('keyswitch up: one supervised process per role [sqlite]', () => {
  let up: Up;
  beforeAll(async () => {
    up = await startUp({ prefix: 'ks-supervise-', terminals: ['alice@lab.example'] });
  });
  afterAll(async () => {
    await up?.stop();
  });

  const register = () => ks(['terminal', 'register', '--id', 'alice@lab.example', '--key', up.keys['alice@lab.example']!, '--sbc', `127.0.0.1:${up.ports.sbcSip}`, '--mechs', 'app-hmac;q=0.5']);
  const health = async () => {
    const r = await fetch(`http://127.0.0.1:${up.ports.metrics}/healthz`);
    return { status: r.status, body: (await r.json()) as { down: { part: string; reason: string }[] } };
  };

  it('runs the AuC, the softswitch and the SBC as processes of their own, children of the command', () => {
    const roles = roleProcesses(up.daemon.proc.pid!);
    for (const r of ['auc', 'softswitch', 'sbc']) expect(roles.get(r), `${r} in ${[...roles.keys()]}`).toBeGreaterThan(0);
    expect(new Set(roles.values()).size).toBe(roles.size);
    expect(roles.get('sbc')).not.toBe(up.daemon.proc.pid);
  });

  it('restarts a role that died: /healthz names it meanwhile, the restart is counted, and the restarted SBC registers terminals', async () => {
    expect(register().code).toBe(0);
    const before = roleProcesses(up.daemon.proc.pid!).get('sbc')!;
    process.kill(before, 'SIGKILL');
    const down = await until('the supervisor to notice', async () => {
      const h = await health();
      return h.status === 503 ? h : undefined;
    });
    expect(down.body.down.map((d) => d.part)).toContain('sbc role');
    const after = await until('a new SBC process', () => {
      const pid = roleProcesses(up.daemon.proc.pid!).get('sbc');
      return pid !== undefined && pid !== before ? pid : undefined;
    });
    await until('/healthz 200 again', async () => ((await health()).status === 200 ? true : undefined), 30_000);
    expect(alive(after)).toBe(true);
    const text = await (await fetch(`http://127.0.0.1:${up.ports.metrics}/metrics`)).text();
    expect(text).toMatch(/^keyswitch_up_role_restarts_total\{role="sbc"\} 1$/m);
    const r = register();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // the supervisor logged it, as one JSON event
    expect(up.daemon.stderr()).toMatch(/"role":"sbc".*"msg":"role exited; restarting"/);
  });

  it('stops every role with the command on SIGTERM, exit 0', async () => {
    const roles = [...roleProcesses(up.daemon.proc.pid!).values()];
    expect(roles.length).toBeGreaterThanOrEqual(3);
    expect(await up.daemon.stop()).toBe(0);
    await until('every role process to exit', () => (roles.every((pid) => !alive(pid)) ? true : undefined), 15_000);
  });
});
