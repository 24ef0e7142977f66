/**
 * `keyswitch up` runs each role in its own process under a supervisor
 * (docs/deploy.md): the roles are separate processes; a role that dies is
 * restarted (the supervisor's /healthz says so meanwhile, and counts it);
 * signalling goes over real sockets, so a terminal registers through the
 * restarted SBC; and SIGTERM stops every role with the supervisor, exit 0.
 * The back-off (docs/deploy.md, "Supervision"), with its delays made short
 * (up.restart*): the delay the supervisor announces doubles at each exit up
 * to the cap, starts over once a role has run long enough, and keeps growing
 * while a role fails to start (its port taken by another program).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
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

const registerAt = (up: Up) => ks(['terminal', 'register', '--id', 'alice@lab.example', '--key', up.keys['alice@lab.example']!, '--sbc', `127.0.0.1:${up.ports.sbcSip}`, '--mechs', 'app-hmac;q=0.5']);
const healthOf = async (up: Up) => {
  const r = await fetch(`http://127.0.0.1:${up.ports.metrics}/healthz`);
  return { status: r.status, body: (await r.json()) as { down: { part: string; reason: string }[] } };
};
const sbcRestarts = async (up: Up) => {
  const text = await (await fetch(`http://127.0.0.1:${up.ports.metrics}/metrics`)).text();
  return Number(/^keyswitch_up_role_restarts_total\{role="sbc"\} (\d+)$/m.exec(text)?.[1] ?? 0);
};

describe('keyswitch up: one supervised process per role [sqlite]', () => {
  let up: Up;
  beforeAll(async () => {
    up = await startUp({ prefix: 'ks-supervise-', terminals: ['alice@lab.example'] });
  });
  afterAll(async () => {
    await up?.stop();
  });

  const register = () => registerAt(up);
  const health = () => healthOf(up);

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

describe('keyswitch up: the restart back-off, as the operator sees it [sqlite]', () => {
  const FIRST = 200;
  const MAX = 800;
  const STABLE = 5000;
  let up: Up;
  let squatter: Server | undefined;
  beforeAll(async () => {
    up = await startUp({
      prefix: 'ks-backoff-',
      terminals: ['alice@lab.example'],
      env: { KEYSWITCH_UP_RESTART_FIRST_MS: String(FIRST), KEYSWITCH_UP_RESTART_MAX_MS: String(MAX), KEYSWITCH_UP_RESTART_STABLE_MS: String(STABLE) },
    });
  });
  afterAll(async () => {
    await new Promise((r) => (squatter ? squatter.close(r) : r(undefined)));
    await up?.stop();
  });

  /** The delays the supervisor announced for the SBC, from its JSON log, in order. */
  const announced = () =>
    up.daemon
      .stderr()
      .split('\n')
      .flatMap((l) => {
        try {
          const e = JSON.parse(l) as { msg?: string; role?: string; restartInMs?: number };
          return e.msg === 'role exited; restarting' && e.role === 'sbc' ? [e.restartInMs] : [];
        } catch {
          return [];
        }
      });
  const sbcPid = () => roleProcesses(up.daemon.proc.pid!).get('sbc');
  const sbcNamedDown = async () => {
    const h = await healthOf(up);
    return h.status === 503 && h.body.down.some((d) => d.part === 'sbc role') ? true : undefined;
  };
  const healthy = async () => {
    await until('/healthz 200', async () => ((await healthOf(up)).status === 200 ? true : undefined), 30_000);
    return sbcPid()!;
  };
  /** The policy: the first delay, doubled at each exit, at most the cap. */
  const policy = (n: number) => Array.from({ length: n }, (_, i) => Math.min(MAX, FIRST * 2 ** i));

  it('an SBC killed four times in a row: the announced delay doubles up to the cap, /healthz names it each time, each restart is counted, and it registers terminals after', async () => {
    for (let i = 1; i <= 4; i++) {
      const pid = await healthy();
      process.kill(pid, 'SIGKILL');
      await until(`/healthz to name the sbc role (kill ${i})`, sbcNamedDown);
      await until(`the restart to be announced (kill ${i})`, () => (announced().length === i ? true : undefined));
      await until(`a new SBC process (kill ${i})`, () => (sbcPid() !== undefined && sbcPid() !== pid ? true : undefined));
    }
    await healthy();
    expect(announced()).toEqual(policy(4));
    expect(await sbcRestarts(up)).toBe(4);
    const r = registerAt(up);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  }, 90_000);

  it('once the SBC has run up.restartStableMs, the delay starts over, and it keeps doubling while the restarted SBC cannot start; it serves once its port is free', async () => {
    const pid = await healthy();
    const before = announced().length;
    // long enough up to have recovered
    await new Promise((r) => setTimeout(r, STABLE + 500));
    process.kill(pid, 'SIGKILL');
    // another program takes the SBC's SIP port as soon as the killed process has let it go
    squatter = await until('the SBC port to be free', () =>
      new Promise<Server | undefined>((resolve) => {
        const s = createServer();
        s.once('error', () => resolve(undefined));
        s.listen(up.ports.sbcSip, '127.0.0.1', () => resolve(s));
      }),
    );
    await until('three restarts that fail', () => (announced().length >= before + 4 ? true : undefined), 30_000);
    expect(announced().slice(before, before + 4)).toEqual(policy(4));
    expect(await sbcNamedDown()).toBe(true);
    expect(up.daemon.stderr()).toMatch(new RegExp(`"role":"sbc".*"reason":"[^"]*${up.ports.sbcSip}[^"]*".*"msg":"role failed to restart"`));
    await new Promise((r) => squatter!.close(r));
    squatter = undefined;
    await healthy();
    // every announced restart happened, none other
    expect(await sbcRestarts(up)).toBe(announced().length);
    const r = registerAt(up);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  }, 90_000);
});
