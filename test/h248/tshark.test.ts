import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { registerH248Gateway } from '../../src/terminal/h248-gateway.js';
import { writePcap, type PcapPacket } from '../helpers/pcap.js';
import { gatewayOptions, startLab } from './harness.js';

const hasTshark = spawnSync('tshark', ['--version']).status === 0;
if (!hasTshark) console.warn('tshark not installed: skipping the H.248 interop check (CI installs it)');

const MG: [string, number] = ['192.0.2.10', 2945];
const SBC_ACCESS: [string, number] = ['192.0.2.1', 2944];
const SBC_CORE: [string, number] = ['192.0.2.1', 2945];
const MGC: [string, number] = ['192.0.2.2', 2944];

function tshark(file: string, ...args: string[]): string {
  return execFileSync('tshark', ['-r', file, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

describe.skipIf(!hasTshark)('H.248 interop with Wireshark', () => {
  it("tshark's megaco dissector decodes a full registration, a protected message and a refusal cleanly", async () => {
    const lab = await startLab({ access: true, core: true });
    const dir = mkdtempSync(join(tmpdir(), 'h248-tshark-'));
    try {
      const r = await registerH248Gateway({ ...gatewayOptions(lab), keepOpen: true });
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(await r.gateway!.notify('A4444', 'al/of')).toEqual({ ok: true });
      const prot = lab.access!.captured.find((c) => c.dir === 'up' && c.payload.toString().includes('al/of'))!.payload;
      lab.access!.inject(prot); // replayed: refused with 402
      await new Promise((res) => setTimeout(res, 100));
      r.gateway!.close();

      const packets: PcapPacket[] = [
        ...lab.access!.captured.map((c) => ({ proto: 'udp' as const, src: c.dir === 'up' ? MG : SBC_ACCESS, dst: c.dir === 'up' ? SBC_ACCESS : MG, payload: c.payload })),
        ...lab.core!.captured.map((c) => ({ proto: 'udp' as const, src: c.dir === 'up' ? SBC_CORE : MGC, dst: c.dir === 'up' ? MGC : SBC_CORE, payload: c.payload })),
      ];
      const file = join(dir, 'h248.pcap');
      writePcap(file, packets);

      expect(tshark(file, '-Y', '_ws.malformed || _ws.expert.severity >= 8388608').trim()).toBe('');
      const rows = tshark(file, '-T', 'fields', '-E', 'separator=|', '-e', 'frame.protocols', '-e', 'megaco.transid', '-e', 'megaco.command', '-e', 'megaco.pkgdname', '-e', 'megaco.error_code', '-e', 'megaco.start_token')
        .trim()
        .split('\n')
        .map((l) => l.split('|'));
      expect(rows.length).toBe(packets.length);
      for (const row of rows) {
        expect(row[0]).toContain('megaco');
        expect(row[1]).toMatch(/^\d+/);
      }
      const commands = rows.map((x) => x[2]).join(',');
      for (const c of ['ServiceChange', 'Modify', 'Notify']) expect(commands).toContain(c);
      expect(rows.some((x) => x[3]!.includes('ks/auth'))).toBe(true);
      expect(rows.some((x) => x[4] === '402')).toBe(true);
      // Protected datagrams: the dissector reads past the Annex B header.
      expect(rows.filter((x) => x[5]!.startsWith('AU=0x')).length).toBeGreaterThanOrEqual(4);
    } finally {
      lab.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
