import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { param } from '../../src/mgcp/types.js';
import { writePcap, type PcapPacket } from '../helpers/pcap.js';
import { startLab, type Capture } from './lab.js';

const tshark = spawnSync('tshark', ['-v']).status === 0;
if (!tshark) console.warn('[keyswitch tests] tshark not installed: MGCP dissector checks SKIPPED');

const dir = mkdtempSync(join(tmpdir(), 'ks-mgcp-'));
afterAll(() => (process.env.KS_KEEP_PCAP ? console.warn(`pcap kept in ${dir}`) : rmSync(dir, { recursive: true, force: true })));

// Lab addresses as a carrier would see them: gateway 2427 ↔ SBC 2727 (access), SBC 2427 ↔ call agent 2727 (core).
const GW: [string, number] = ['192.0.2.10', 2427];
const SBC_ACCESS: [string, number] = ['192.0.2.1', 2727];
const SBC_CORE: [string, number] = ['192.0.2.1', 2427];
const CA: [string, number] = ['192.0.2.2', 2727];

/** Every datagram once: the gateway's view of the access leg and the call agent's view of the core leg. */
function toPackets(captures: Capture[]): PcapPacket[] {
  const out: PcapPacket[] = [];
  for (const c of captures) {
    if (c.side === 'gateway') out.push({ proto: 'udp', src: c.dir === 'out' ? GW : SBC_ACCESS, dst: c.dir === 'out' ? SBC_ACCESS : GW, payload: c.data });
    if (c.side === 'softswitch') out.push({ proto: 'udp', src: c.dir === 'out' ? CA : SBC_CORE, dst: c.dir === 'out' ? SBC_CORE : CA, payload: c.data });
  }
  return out;
}

function tsharkFields(file: string, filter: string, ...names: string[]): string[][] {
  const args = ['-r', file, '-Y', filter, '-T', 'fields', ...names.flatMap((n) => ['-e', n])];
  return execFileSync('tshark', args, { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map((l) => l.split('\t'));
}

describe.skipIf(!tshark)('MGCP registration as Wireshark decodes it', () => {
  it('decodes every message of s1..s10 and the protected commands after it, with no malformed packet or error', async () => {
    // no retransmission on a loaded machine: the counts below are of messages, each once
    const lab = await startLab({ timers: { initialRtoMs: 1000, maxRtoMs: 4000 } });
    const idc = 'gw1@lab.example';
    const gw = await lab.gateway({ idc, kc: lab.provision(idc) });
    expect((await gw.register()).ok).toBe(true);
    expect((await gw.command('NTFY', [param('N', 'ca@[192.0.2.2]:2727'), param('X', '0123abcd'), param('O', 'L/hd')])).ok).toBe(true);
    expect((await lab.ss.command(idc, 'AUEP', [param('F', 'R,D')])).ok).toBe(true);
    await lab.close();

    const file = join(dir, 'mgcp.pcap');
    const packets = toPackets(lab.captures);
    writePcap(file, packets);

    const bad = execFileSync('tshark', ['-r', file, '-Y', '_ws.malformed || _ws.expert.severity >= 8388608'], { encoding: 'utf8' });
    expect(bad.trim()).toBe('');

    const all = tsharkFields(file, 'mgcp', 'mgcp.req.verb', 'mgcp.transid', 'mgcp.rsp.rspcode');
    expect(all).toHaveLength(packets.length);
    // a datagram may carry several messages (piggy-backed, RFC 3435 §3.5.5): tshark lists each field's values with commas
    const each = (i: number) => all.flatMap((r) => (r[i] ?? '').split(',').filter(Boolean));
    const verbs = each(0);
    const codes = each(2);
    const tids = each(1);
    expect(tids).toHaveLength(verbs.length + codes.length); // every message decoded, none lost in a piggy-backed datagram
    expect(packets.length).toBeLessThan(tids.length); // and some were piggy-backed
    // s1 and s2 (RSIP), s5/s6 and s9/s10 (RQNT) on both legs, s7/s8 and the protected NTFY, the AUEP on both legs.
    expect(verbs.filter((v) => v === 'RSIP')).toHaveLength(2);
    expect(verbs.filter((v) => v === 'RQNT')).toHaveLength(4);
    expect(verbs.filter((v) => v === 'NTFY')).toHaveLength(4);
    expect(verbs.filter((v) => v === 'AUEP')).toHaveLength(2);
    expect(codes.filter((c) => c === '200')).toHaveLength(12);
    for (const t of tids) expect(Number(t)).toBeGreaterThan(0);

    // Wireshark 4.0 lists X- parameters only when the name after X- is letters and digits, so X-KS-…
    // lines show in the MGCP payload, not as fields (docs/mgcp.md); E_Ksp shows only on the core leg.
    const frames = (filter: string) => tsharkFields(file, filter, 'frame.number').length;
    expect(frames('mgcp.req.verb == "RQNT" && ip.dst == 192.0.2.10 && mgcp contains "X-KS-MAC: "')).toBe(1);
    expect(frames('mgcp.req.verb == "NTFY" && ip.dst == 192.0.2.1 && udp.dstport == 2727 && mgcp contains "X-KS-HMAC: "')).toBe(1);
    expect(frames('mgcp.req.verb == "AUEP" && ip.dst == 192.0.2.10 && mgcp contains "X-KS-HMAC: "')).toBe(1);
    expect(frames('ip.dst == 192.0.2.1 && udp.dstport == 2427 && mgcp contains "X-KS-EKSP: "')).toBe(1);
    expect(frames('ip.dst == 192.0.2.10 && mgcp contains "X-KS-EKSP"')).toBe(0);
    expect(frames('ip.dst == 192.0.2.2 && mgcp contains "X-KS-HMAC"')).toBe(0);
    // Confirmed transactions ride on the next command as K: (RFC 3435 response acknowledgement).
    expect(frames('mgcp.param.rspack')).toBeGreaterThan(0);
    const restart = tsharkFields(file, 'mgcp.req.verb == "RSIP"', 'mgcp.param.restartmethod', 'mgcp.req.endpoint');
    expect(restart[0]).toEqual(['restart', '*@gw1.lab.example']);
    const rqnt = tsharkFields(file, 'mgcp.req.verb == "RQNT" && mgcp.param.reqevents', 'mgcp.param.requestid', 'mgcp.param.reqevents');
    expect(rqnt[0]![1]).toBe('ks/auth');
    const ntfy = tsharkFields(file, 'mgcp.req.verb == "NTFY" && mgcp.param.observedevents == "ks/auth"', 'mgcp.param.requestid');
    expect(ntfy[0]![0]).toBe(rqnt[0]![0]);
  });
});
