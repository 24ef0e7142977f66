import { spawn } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { upEnv } from '../helpers/ports.js';

/**
 * Issue 8 item 9: a listener that cannot start stops `keyswitch up` with a
 * non-zero exit and one line naming the listener and its address — the
 * process never stays up half-started (before: EADDRINUSE on the RADIUS or
 * API port left it running, and /healthz said ok).
 */
describe('keyswitch up stops when a listener cannot start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-startfail-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs `up` until it exits (or 25 s pass: then it is killed and reported as still running). */
  const runUp = (env: NodeJS.ProcessEnv): Promise<{ code: number | null; stillRunning: boolean; stderr: string; stdout: string }> =>
    new Promise((resolve) => {
      const proc = spawn(process.execPath, [BIN, '--data-dir', join(dir, 'data'), 'up'], { env: { ...process.env, ...env, KEYSWITCH_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
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
