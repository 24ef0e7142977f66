/**
 * Issue 8 item 10: `keyswitch terminal register` (and call, answer) against
 * an SBC that silently drops everything ends within its deadline, exits 1
 * and says why — it neither hangs nor waits out SIP's 32 s timers. A normal
 * registration under the same deadline still succeeds.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTerminalRegister } from '../../src/cli/terminal.js';
import { ksAsync as ks } from '../helpers/cli.js';
import { startLab, type Lab } from '../sbc/setup.js';

let dropUdp: UdpSocket;
let silentTcp: Server;
const held: Socket[] = [];
let udpPort: number;
let tcpPort: number;
let lab: Lab;
const key = randomBytes(32).toString('hex');

beforeAll(async () => {
  // an "SBC" that reads every datagram and answers none
  dropUdp = createSocket('udp4');
  dropUdp.on('message', () => undefined);
  await new Promise<void>((r) => dropUdp.bind(0, '127.0.0.1', r));
  udpPort = dropUdp.address().port;
  // one that accepts TCP connections and never says a word
  silentTcp = createServer((s) => {
    held.push(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => silentTcp.listen(0, '127.0.0.1', r));
  tcpPort = (silentTcp.address() as { port: number }).port;
  lab = await startLab();
});
afterAll(async () => {
  dropUdp.close();
  for (const s of held) s.destroy();
  silentTcp.close();
  await lab.close();
});

const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').pop() ?? '{}');

// concurrent: each test but the last waits out a deadline against its own process, and nothing is shared between them
describe.concurrent('terminal commands end at their deadline when the SBC drops their traffic', () => {
  for (const proto of ['sip', 'mgcp', 'h248'] as const) {
    it(`terminal register --proto ${proto} --timeout 2: exit 1 and a clear error naming the SBC`, async () => {
      const r = await ks(['terminal', 'register', '--proto', proto, '--id', 'alice@lab.example', '--key', key, '--sbc', `127.0.0.1:${udpPort}`, '--timeout', '2']);
      expect(r.code, r.stderr).toBe(1);
      const line = lastJson(r.stdout);
      expect(line).toMatchObject({ ok: false, protocol: proto, authFailed: false });
      expect(line.error).toBe(`timeout: no answer from the SBC at 127.0.0.1:${udpPort} within 2 s`);
      expect(r.stdout + r.stderr).not.toContain(key);
    });
  }

  it('terminal register over TCP to an SBC that accepts and stays silent', async () => {
    const r = await ks(['terminal', 'register', '--id', 'alice@lab.example', '--key', key, '--sbc', `127.0.0.1:${tcpPort}`, '--transport', 'tcp', '--timeout', '1.5']);
    expect(r.code, r.stderr).toBe(1);
    expect(lastJson(r.stdout).error).toBe(`timeout: no answer from the SBC at 127.0.0.1:${tcpPort} within 1.5 s`);
  });

  it('has a deadline without --timeout too (10 s, not SIP\'s 32 s)', async () => {
    const r = await ks(['terminal', 'register', '--id', 'alice@lab.example', '--key', key, '--sbc', `127.0.0.1:${udpPort}`]);
    expect(r.code, r.stderr).toBe(1);
    expect(lastJson(r.stdout).error).toBe(`timeout: no answer from the SBC at 127.0.0.1:${udpPort} within 10 s`);
  });

  it('terminal call and terminal answer end too', async () => {
    const [call, answer] = await Promise.all([
      ks(['terminal', 'call', '--id', 'alice@lab.example', '--key', key, '--sbc', `127.0.0.1:${udpPort}`, '--to', 'bob@lab.example', '--timeout', '2']),
      ks(['terminal', 'answer', '--id', 'bob@lab.example', '--key', key, '--sbc', `127.0.0.1:${udpPort}`, '--timeout', '2']),
    ]);
    expect(call.code, call.stderr).toBe(1);
    expect(lastJson(call.stdout)).toMatchObject({ event: 'failed', error: `timeout: no answer from the SBC at 127.0.0.1:${udpPort} within 2 s`, authFailed: false });
    expect(answer.code, answer.stderr).toBe(1);
    expect(lastJson(answer.stdout)).toMatchObject({ event: 'failed', error: `timeout: no answer from the SBC at 127.0.0.1:${udpPort} within 2 s` });
  });

  it('refuses a timeout that is not a positive number', async () => {
    const r = await ks(['terminal', 'register', '--id', 'alice@lab.example', '--key', key, '--sbc', `127.0.0.1:${udpPort}`, '--timeout', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--timeout must be a positive number/);
  });

  it('a terminal whose SBC answers registers as before under the same deadline', async () => {
    const kc = lab.provision('deadline@lab.example');
    const out: string[] = [];
    const code = await runTerminalRegister({ proto: 'sip', id: 'deadline@lab.example', key: kc.toString('hex'), sbc: `127.0.0.1:${lab.sbc.ports.udp}`, mechs: 'app-hmac;q=0.5', timeout: 10, out: (l) => out.push(l), err: () => undefined });
    expect(code).toBe(0);
    expect(JSON.parse(out[0]!)).toMatchObject({ ok: true, idc: 'deadline@lab.example', mechanism: 'app-hmac' });
  });
});
