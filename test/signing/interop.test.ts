/** tshark decodes signed SIP (Via and Record-Route/Route parameters) without malformed or error items. */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePcap } from '../helpers/pcap.js';
import { serialize } from '../../src/sip/index.js';
import { SigningPool } from '../../src/sbc/pool/pool.js';
import { makePoolCertificate } from '../../src/sbc/pool/certificate.js';
import { call, Clock, makeSigner, requestFromA, requestFromB } from './flow.js';

const hasTshark = spawnSync('which', ['tshark']).status === 0;
if (!hasTshark) console.warn('[signing interop] tshark not installed: tshark test SKIPPED');
const dir = mkdtempSync(join(tmpdir(), 'ks-signing-interop-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('interop', () => {
  it.skipIf(!hasTshark)('tshark decodes a signed INVITE, 200, and BYEs from both sides', async () => {
    const m = makePoolCertificate();
    const clock = new Clock();
    const { signer } = await makeSigner(clock, { pool: new SigningPool(m.cert, m.key, { now: clock.now }) });
    const { inviteAtB, okAtLeg2, okAtA } = call(signer);
    const sbc: [string, number] = ['192.0.2.1', 5060];
    const a: [string, number] = ['192.0.2.10', 5062];
    const b: [string, number] = ['198.51.100.20', 5064];
    const file = join(dir, 'signed-call.pcap');
    writePcap(file, [
      { proto: 'udp', src: sbc, dst: b, payload: serialize(inviteAtB) },
      { proto: 'udp', src: b, dst: sbc, payload: serialize(okAtLeg2) },
      { proto: 'udp', src: sbc, dst: a, payload: serialize(okAtA) },
      { proto: 'udp', src: a, dst: sbc, payload: serialize(requestFromA(okAtA)) },
      { proto: 'udp', src: b, dst: sbc, payload: serialize(requestFromB(inviteAtB)) },
    ]);
    const errors = execFileSync('tshark', ['-r', file, '-Y', '_ws.malformed || _ws.expert.severity >= 8388608'], { encoding: 'utf8' });
    expect(errors.trim()).toBe('');
    const rows = execFileSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', '-e', 'sip.Method', '-e', 'sip.Status-Code', '-e', 'sip.Via.sent-by.address', '-e', 'sip.Record-Route', '-e', 'sip.Route'], { encoding: 'utf8' })
      .trim().split('\n').map((l) => l.split('|'));
    expect(rows.map((r) => r[0] || r[1])).toEqual(['INVITE', '200', '200', 'BYE', 'BYE']);
    expect(rows[0]![3]).toContain('ks-rr=');
    expect(rows[0]![3]).toContain('ks-kb=');
    expect(rows[2]![3]).toContain('ks-rsa=');
    expect(rows[3]![4]).toContain('ks-rsa=');
    expect(rows[4]![4]).toContain('ks-rsb=');
  });
});
