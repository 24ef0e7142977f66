/** tshark's SIP dissector reads a full signed call (REGISTER … INVITE … BYE) on both links without malformed packets or expert errors. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writePcap, type PcapPacket } from '../helpers/pcap.js';
import { startRelay, type Relay } from './relay.js';
import { startLab, type Lab } from './setup.js';
import { answerCalls, placeCall, type CallEvent } from '../../src/terminal/call.js';

function hasTshark(): boolean {
  try {
    execFileSync('tshark', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const tshark = hasTshark();
if (!tshark) console.warn('tshark not installed: skipping the signed-call dissector check');

let lab: Lab;
let relayA: Relay;
let relayB: Relay;

beforeAll(async () => {
  lab = await startLab({ route: true });
  relayA = await startRelay({ host: '127.0.0.1', port: lab.sbc.ports.udp! });
  relayB = await startRelay({ host: '127.0.0.1', port: lab.sbc.ports.udp! });
});
afterAll(async () => {
  await Promise.all([relayA?.close(), relayB?.close()]);
  await lab?.close();
});

describe.skipIf(!tshark)('tshark on a signed call', () => {
  it('decodes every message of the call cleanly, with the signatures where they belong', async () => {
    const ka = lab.provision('alice@lab.example');
    const kb = lab.provision('bob@lab.example');
    let ready!: () => void;
    const registered = new Promise<void>((r) => (ready = r));
    const answering = answerCalls({
      ...lab.terminal('bob@lab.example', kb), mechs: 'app-hmac;q=0.5', sbc: { host: '127.0.0.1', port: relayB.port }, calls: 1, timeoutSeconds: 10,
      onEvent: (e: CallEvent) => e.event === 'registered' && ready(),
    });
    await registered;
    const code = await placeCall({ ...lab.terminal('alice@lab.example', ka), mechs: 'app-hmac;q=0.5', sbc: { host: '127.0.0.1', port: relayA.port }, to: 'bob@lab.example', holdSeconds: 0, onEvent: () => undefined });
    expect(code).toBe(0);
    expect(await answering).toBe(0);

    const A: [string, number] = ['192.0.2.10', 5060];
    const B: [string, number] = ['192.0.2.20', 5060];
    const S: [string, number] = ['192.0.2.1', 5060];
    const packets: PcapPacket[] = [
      ...relayA.packets.map((p) => ({ ...p, src: p.dir === 'up' ? A : S, dst: p.dir === 'up' ? S : A })),
      ...relayB.packets.map((p) => ({ ...p, src: p.dir === 'up' ? B : S, dst: p.dir === 'up' ? S : B })),
    ].sort((a, b) => a.order - b.order).map(({ proto, src, dst, payload }) => ({ proto, src, dst, payload }));
    const file = join(lab.dir, 'call.pcap');
    writePcap(file, packets);
    const bad = execFileSync('tshark', ['-r', file, '-Y', '_ws.malformed || _ws.expert.severity >= 8388608'], { encoding: 'utf8' });
    expect(bad).toBe('');
    const rows = execFileSync('tshark', ['-r', file, '-Y', 'sip', '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=f',
      '-e', 'ip.src', '-e', 'ip.dst', '-e', 'sip.Method', '-e', 'sip.Status-Code', '-e', 'sip.CSeq.method', '-e', 'sip.Via', '-e', 'sip.Record-Route', '-e', 'sip.Route'], { encoding: 'utf8' })
      .trim().split('\n').map((l) => l.split('|'));
    expect(rows.length).toBe(packets.length);
    const calls = rows.filter((r) => r[4] !== 'REGISTER' && r[4] !== 'OPTIONS');
    const seq = calls.map((r) => `${r[0] === '192.0.2.1' ? 'S' : r[0] === '192.0.2.10' ? 'A' : 'B'}>${r[1] === '192.0.2.1' ? 'S' : r[1] === '192.0.2.10' ? 'A' : 'B'} ${r[2] || r[3]}`);
    expect(seq).toEqual(expect.arrayContaining(['A>S INVITE', 'S>B INVITE', 'B>S 180', 'S>A 180', 'B>S 200', 'S>A 200', 'A>S ACK', 'S>B ACK', 'A>S BYE', 'S>B BYE', 'B>S 200', 'S>A 200']));
    // The INVITE the SBC sends to B carries its signed Via and signed Record-Route.
    const inviteToB = calls.find((r) => r[1] === '192.0.2.20' && r[2] === 'INVITE')!;
    expect(inviteToB[5]).toMatch(/;ks-vs=[\w-]{8}\.[\w-]{22}/);
    expect(inviteToB[6]).toMatch(/ks-rr=[\w-]{8}\.[\w-]{22}/);
    // The caller's BYE presents the route set signed for it.
    const byeFromA = calls.find((r) => r[0] === '192.0.2.10' && r[2] === 'BYE')!;
    expect(byeFromA[7]).toMatch(/ks-rsa=[\w-]{8}\.[\w-]{22}/);
  });
});
