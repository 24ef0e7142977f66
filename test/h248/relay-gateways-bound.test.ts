import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { startH248Relay, type H248RelayHandle } from '../../src/sbc/h248-relay.js';
import { IDSP, KSP } from './harness.js';

/** The relay's table of gateways (by source address and port): bounded by maxGateways, idle ones forgotten. */

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function gateway(): Promise<{ sock: Socket; got: string[] }> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const got: string[] = [];
  sock.on('message', (m) => got.push(m.toString('latin1')));
  cleanups.push(() => sock.close());
  return { sock, got };
}

/** A ServiceChange without KS1 parameters: the relay notes the gateway and answers 402 (not registered), or 503 when full. */
async function ask(relay: H248RelayHandle, g: { sock: Socket; got: string[] }, id: number): Promise<string> {
  const n = g.got.length;
  g.sock.send(`!/1 [127.0.0.1]:${g.sock.address().port}\nT=${id}{C=-{SC=ROOT{SV{MT=RS,RE="901 Cold Boot"}}}}\n`, relay.port, '127.0.0.1');
  await expect.poll(() => g.got.length).toBeGreaterThan(n);
  return g.got[n]!;
}

describe('H.248 SBC: table of gateways', () => {
  it('holds at most maxGateways; an idle one is forgotten and its place taken by a new one', async () => {
    const relay = await startH248Relay({
      listen: { host: '127.0.0.1', port: 0 },
      softswitch: { host: '127.0.0.1', port: 9 },
      sbc: { idsp: IDSP, ksp: KSP },
      maxGateways: 2,
      idleSec: 0,
    });
    cleanups.push(() => relay.close());
    const [a, b, c] = [await gateway(), await gateway(), await gateway()];
    expect(await ask(relay, a, 1)).toMatch(/ER=402\{"not registered"\}/);
    expect(await ask(relay, b, 1)).toMatch(/ER=402/);
    // the same gateway again is the same entry, not a third
    expect(await ask(relay, a, 2)).toMatch(/ER=402/);
    expect(relay.stats().gateways).toBe(2);
    expect(await ask(relay, c, 1)).toMatch(/ER=503\{"too many gateways"\}/);
    expect(relay.stats().gateways).toBe(2);
    // the sweep (every 5 s) forgets gateways with no registration idle past idleSec
    await expect.poll(() => relay.stats().gateways, { timeout: 7000, interval: 100 }).toBe(0);
    expect(await ask(relay, c, 2)).toMatch(/ER=402/);
    expect(relay.stats().gateways).toBe(1);
  }, 10_000);
});
