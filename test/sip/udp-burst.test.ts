/**
 * A burst that arrives while the event loop is busy (a GC, a slow turn) waits in the UDP
 * socket's receive buffer: with the kernel's default (~208 KiB: 92 of these 2,000 arrived) most of it
 * was dropped unseen and came back as retransmissions. 2,000 REGISTER-sized datagrams sent
 * while the receiver's loop is blocked must all arrive. Linux: the buffer is capped by
 * net.core.rmem_max, read here.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createUdpTransport, type SipTransport } from '../../src/sip/index.js';

const COUNT = 2000;
const SIZE = 700;
const rmemMax = existsSync('/proc/sys/net/core/rmem_max') ? Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8')) : 0;

const open: SipTransport[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

// the sender: COUNT datagrams as fast as it can, then a marker file once the last has been handed to the kernel
const SENDER = `
const s = require('node:dgram').createSocket('udp4');
const [port, n, size, done] = process.argv.slice(1);
const msg = Buffer.alloc(Number(size), 'a');
let left = Number(n);
for (let i = 0; i < Number(n); i++) s.send(msg, Number(port), '127.0.0.1', () => { if (--left === 0) { require('node:fs').writeFileSync(done, ''); s.close(); } });
`;

describe.skipIf(rmemMax < COUNT * SIZE * 2)('a UDP burst while the loop is busy', () => {
  it(`${COUNT} datagrams of ${SIZE} bytes sent during a blocked turn all arrive`, async () => {
    const t = await createUdpTransport({ host: '127.0.0.1', port: 0 });
    open.push(t);
    let got = 0;
    t.onMessage = () => got++;
    const dir = mkdtempSync(join(tmpdir(), 'ks-udp-burst-'));
    dirs.push(dir);
    const done = join(dir, 'done');
    const child = spawn(process.execPath, ['-e', SENDER, String(t.port), String(COUNT), String(SIZE), done], { stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    // the receiving loop stays blocked until the sender has sent everything (at most 20 s)
    const until = Date.now() + 20_000;
    while (!existsSync(done) && Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    expect(existsSync(done)).toBe(true);
    await exited;
    for (let i = 0; i < 100 && got < COUNT; i++) await new Promise((r) => setTimeout(r, 20));
    expect(got).toBe(COUNT);
  });
});
