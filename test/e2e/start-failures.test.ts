import { spawn, spawnSync } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { chownSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { upEnv } from '../helpers/ports.js';

/**
 * `nobody`, to run `up` as, and the first port an unprivileged user may bind; or why that
 * cannot be played here (not root, no such user, every port open to everyone).
 */
function unprivilegedUser(): { uid: number; gid: number; portStart: number } | string {
  if (process.getuid?.() !== 0) return 'the tests do not run as root, so they cannot start a process as another user';
  const id = (flag: string) => Number(spawnSync('id', [flag, 'nobody'], { encoding: 'utf8' }).stdout.trim() || NaN);
  const uid = id('-u');
  const gid = id('-g');
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid === 0) return 'no unprivileged user `nobody`';
  let portStart: number;
  try {
    portStart = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'));
  } catch {
    return 'no /proc/sys/net/ipv4/ip_unprivileged_port_start (not Linux)';
  }
  if (!(portStart > 1)) return `net.ipv4.ip_unprivileged_port_start is ${portStart}: any user may bind any port`;
  return { uid, gid, portStart };
}

/**
 * Issue 8 item 9: a listener that cannot start (its port taken, or not one its
 * user may bind) stops `keyswitch up` with a non-zero exit and one line naming
 * the listener and its address — the process never stays up half-started
 * (before: EADDRINUSE on the RADIUS or API port left it running, and /healthz
 * said ok).
 */
describe('keyswitch up stops when a listener cannot start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-startfail-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs `up` until it exits (or 25 s pass: then it is killed and reported as still running), as `user` when given. */
  const runUp = (env: NodeJS.ProcessEnv, user?: { uid: number; gid: number; home: string }): Promise<{ code: number | null; stillRunning: boolean; stderr: string; stdout: string }> =>
    new Promise((resolve) => {
      const dataDir = join(user?.home ?? dir, 'data');
      // libuv drops the supplementary groups (root's) when it sets uid and gid
      const as = user ? { uid: user.uid, gid: user.gid } : {};
      const proc = spawn(process.execPath, [BIN, '--data-dir', dataDir, 'up'], { env: { ...process.env, ...env, ...(user ? { HOME: user.home } : {}), KEYSWITCH_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'], ...as });
      let stdout = '';
      let stderr = '';
      proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      let stillRunning = false;
      const timer = setTimeout(() => {
        stillRunning = true;
        proc.kill('SIGKILL');
      }, 25_000);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stillRunning, stderr, stdout });
      });
    });

  const holdTcp = (port: number) =>
    new Promise<Server>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve(s));
    });
  const holdUdp = (port: number) =>
    new Promise<UdpSocket>((resolve, reject) => {
      const s = createSocket('udp4');
      s.once('error', reject);
      s.bind(port, '127.0.0.1', () => resolve(s));
    });

  const cases: Array<{ what: string; port: (p: Record<string, number>) => number; udp: boolean; name: RegExp }> = [
    { what: 'the provisioning API port', port: (p) => p.api!, udp: false, name: /AuC provisioning API/ },
    { what: 'the RADIUS authentication port', port: (p) => p.rAuth!, udp: true, name: /AuC RADIUS/ },
    { what: 'the Diameter port', port: (p) => p.dia!, udp: false, name: /AuC Diameter/ },
    { what: 'the softswitch SIP UDP port', port: (p) => p.ssSip!, udp: true, name: /softswitch SIP UDP/ },
    { what: 'the SBC TLS port', port: (p) => p.sbcTls!, udp: false, name: /SBC SIP TLS\b/ },
    { what: 'the SBC TLS-PSK port', port: (p) => p.sbcPsk!, udp: false, name: /SBC SIP TLS-PSK/ },
    { what: 'the SBC MGCP port', port: (p) => p.sbcMgcp!, udp: true, name: /SBC MGCP/ },
    { what: 'the SBC H.248 port', port: (p) => p.sbcH248!, udp: true, name: /SBC H\.248/ },
  ];

  for (const c of cases) {
    it(`exits 1 with one line naming the listener when ${c.what} is taken`, async () => {
      const { env, ports } = await upEnv();
      const port = c.port(ports);
      const holder = c.udp ? await holdUdp(port) : await holdTcp(port);
      try {
        const r = await runUp(env);
        expect(r.stillRunning, `still running after 25 s; stderr:\n${r.stderr}`).toBe(false);
        expect(r.code).toBe(1);
        expect(r.stdout).not.toMatch(/keyswitch is up/);
        const reason = r.stderr.split('\n').filter((l) => l.startsWith('keyswitch: '));
        expect(reason, r.stderr).toHaveLength(1);
        expect(reason[0]).toMatch(c.name);
        expect(reason[0]).toContain(`127.0.0.1:${port}`);
        expect(reason[0]).toMatch(/in use/);
        // nothing of it left running: every other port it would have listened on is free again
        for (const [p, udp] of [[ports.sbcSip!, true], [ports.ssSip!, true], [ports.dia!, false], [ports.sbcMgcp!, true]] as const) {
          if (p === port) continue;
          const h = udp ? await holdUdp(p) : await holdTcp(p);
          h.close();
        }
      } finally {
        holder.close();
      }
    });
  }

  it('exits 1 with one line naming the listener when its port is not permitted to the user it runs as', async (ctx) => {
    const who = unprivilegedUser();
    if (typeof who === 'string') return ctx.skip(`cannot play "no permission" here: ${who}`);
    // a port only root may bind (net.ipv4.ip_unprivileged_port_start), free for root right now
    const port = Math.min(1023, who.portStart - 1);
    const free = await Promise.all([holdTcp(port), holdUdp(port)].map((h) => h.then((s) => (s.close(), true), () => false)));
    if (free.includes(false)) return ctx.skip(`cannot play "no permission" here: 127.0.0.1:${port} is in use`);
    const home = mkdtempSync(join(tmpdir(), 'ks-startfail-user-'));
    try {
      chownSync(home, who.uid, who.gid);
      const { env, ports } = await upEnv();
      const r = await runUp({ ...env, KEYSWITCH_SBC_UDP_PORT: String(port), KEYSWITCH_SBC_TCP_PORT: String(port) }, { uid: who.uid, gid: who.gid, home });
      expect(r.stillRunning, `still running after 25 s; stderr:\n${r.stderr}`).toBe(false);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout).not.toMatch(/keyswitch is up/);
      const reason = r.stderr.split('\n').filter((l) => l.startsWith('keyswitch: '));
      expect(reason, r.stderr).toHaveLength(1);
      expect(reason[0]).toMatch(/SBC SIP (UDP|TCP)/);
      expect(reason[0]).toContain(`127.0.0.1:${port}`);
      expect(reason[0]).toMatch(/permission denied \(EACCES\)/);
      // the rest is the log, one JSON object a line: no stack trace
      for (const l of r.stderr.split('\n').filter((l) => l && !l.startsWith('keyswitch: '))) expect(() => JSON.parse(l), l).not.toThrow();
      // it got that far as that user: the store it opened is that user's
      expect(statSync(join(home, 'data', 'keyswitch.sqlite')).uid, r.stderr).toBe(who.uid);
      for (const [p, udp] of [[port, true], [port, false], [ports.api!, false], [ports.ssSip!, true], [ports.dia!, false], [ports.sbcTls!, false]] as const) {
        const h = udp ? await holdUdp(p) : await holdTcp(p);
        h.close();
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('starts normally on the same ports once they are free (the legitimate operator is not locked out)', async () => {
    const { env } = await upEnv();
    const proc = spawn(process.execPath, [BIN, '--data-dir', join(dir, 'data'), 'up'], { env: { ...process.env, ...env, KEYSWITCH_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`not up in 30 s:\n${out}`)), 30_000);
      proc.stdout.on('data', () => {
        if (/SBC H\.248 \(gateways\)/.test(out)) {
          clearTimeout(t);
          resolve();
        }
      });
      proc.once('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
    });
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
