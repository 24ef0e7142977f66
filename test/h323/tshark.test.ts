/**
 * Wireshark's h225 dissector reads what the codec writes: every RAS message
 * keyswitch speaks, as UDP to port 1719, with no malformed packet and no
 * expert info of warning severity or above, and the fields visible. Then
 * 400 generated messages, their type and sequence number checked frame by
 * frame.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { RasMessage, encodeRas, type RasMessage as RasMessageT } from '../../src/h323/index.js';
import { writePcap, type PcapPacket } from '../helpers/pcap.js';
import { arbitraryFor } from './arbitrary.js';
import { KS_OID, sampleMessages } from './samples.js';

const hasTshark = spawnSync('tshark', ['--version']).status === 0;
if (!hasTshark) console.warn('[keyswitch tests] tshark not installed: H.225.0 RAS dissector checks SKIPPED');

const EP: [string, number] = ['192.0.2.10', 1719];
const GK: [string, number] = ['192.0.2.1', 1719];
/** Wireshark's PI_WARN; PI_ERROR is 0x00800000. */
const PI_WARN = 0x00600000;

const dir = hasTshark ? mkdtempSync(join(tmpdir(), 'h323-tshark-')) : '';
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function capture(name: string, payloads: Buffer[]): string {
  const file = join(dir, `${name}.pcap`);
  const packets: PcapPacket[] = payloads.map((payload, i) => ({ proto: 'udp', src: i % 2 ? GK : EP, dst: i % 2 ? EP : GK, payload }));
  writePcap(file, packets);
  return file;
}

function tshark(file: string, ...args: string[]): string {
  return execFileSync('tshark', ['-r', file, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

/** One row per frame; each field's occurrences joined with ';'. */
function fields(file: string, names: string[]): Array<Record<string, string>> {
  const out = tshark(file, '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=;', ...names.flatMap((n) => ['-e', n]));
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => Object.fromEntries(l.split('|').map((v, i) => [names[i]!, v])));
}

function expectClean(file: string): void {
  expect(tshark(file, '-Y', `_ws.malformed || _ws.expert.severity >= ${PI_WARN}`).trim()).toBe('');
}

/** RasMessage's choice index as Wireshark shows it (extension alternatives follow the 25 root ones). */
const RAS_INDEX: Record<string, number> = {
  gatekeeperRequest: 0,
  gatekeeperConfirm: 1,
  gatekeeperReject: 2,
  registrationRequest: 3,
  registrationConfirm: 4,
  registrationReject: 5,
  unregistrationRequest: 6,
  unregistrationConfirm: 7,
  unregistrationReject: 8,
  requestInProgress: 25,
};

describe.skipIf(!hasTshark)('H.225.0 RAS as Wireshark decodes it', () => {
  it('every message keyswitch speaks, with its tokens, decodes clean on udp/1719', () => {
    const samples = sampleMessages();
    const file = capture('samples', samples.map((s) => encodeRas(s.message)));
    expectClean(file);
    const rows = fields(file, [
      'frame.protocols',
      'h225.RasMessage',
      'h225.requestSeqNum',
      'h225.h323_ID',
      'h225.dialledDigits',
      'h225.url_ID',
      'h225.email_ID',
      'h225.ipV6',
      'h225.gatekeeperIdentifier',
      'h225.endpointIdentifier',
      'h225.timeToLive',
      'h225.keepAlive',
      'h225.delay',
      'h235.tokenOID',
      'h235.challenge',
      'h235.random',
      'h235.generalID',
      'h235.sendersID',
      'h235.elementID',
      'h235.octets',
      'h235.name',
      'h235.keyExch',
      'h235.algorithmOID',
      'h235.hash',
      'h235.encryptedSessionKey',
      'h225.securityDenial_element',
      'h225.securityIntegrityFailed_element',
      'h225.cryptoEPPwdHash_element',
      'h235.cryptoHashedToken_element',
    ]);
    expect(rows.length).toBe(samples.length);
    const by = Object.fromEntries(samples.map((s, i) => [s.name, rows[i]!]));
    for (const [i, s] of samples.entries()) {
      expect(rows[i]!['frame.protocols']).toMatch(/:udp:h225$/);
      expect(Number(rows[i]!['h225.RasMessage'])).toBe(RAS_INDEX[s.message.type]);
      expect(Number(rows[i]!['h225.requestSeqNum'])).toBe((s.message as { value: { requestSeqNum: number } }).value.requestSeqNum);
    }

    const grq = by['GRQ (s1)']!;
    expect(grq['h225.h323_ID']).toBe('alice@lab.example');
    expect(grq['h225.dialledDigits']).toBe('4711#');
    expect(grq['h225.gatekeeperIdentifier']).toBe('sbc1.lab.example');
    expect(grq['h235.tokenOID']).toBe(KS_OID.token);
    expect(grq['h235.challenge']).toBe('11'.repeat(16));
    expect(grq['h235.sendersID']).toBe('alice@lab.example');
    expect(grq['h235.keyExch']).toBe(KS_OID.token);

    const grj = by['GRJ (s6)']!;
    expect(grj['h225.securityDenial_element']).not.toBe('');
    expect(grj['h235.random']).toBe('2147483647');
    expect(grj['h235.elementID']).toBe('1;2;3');
    expect(grj['h235.octets']).toBe(`${'11'.repeat(16)};${'33'.repeat(16)}`);
    expect(grj['h235.name']).toBe('app-hmac;q=1');

    const rrq = by['RRQ (s7)']!;
    expect(rrq['h225.url_ID']).toBe('h323:alice@lab.example');
    expect(rrq['h225.email_ID']).toBe('alice@lab.example');
    expect(rrq['h225.dialledDigits']).toBe('0123456789*#,');
    expect(rrq['h225.ipV6']).toBe('2001:db8::1');
    expect(rrq['h225.timeToLive']).toBe('300');
    expect(rrq['h225.keepAlive']).toMatch(/^(0|False)$/);
    expect(rrq['h235.random']).toBe('-1');
    expect(rrq['h225.cryptoEPPwdHash_element']).not.toBe('');
    expect(rrq['h235.hash']).toBe('ab'.repeat(16));

    const rcf = by['RCF (s10)']!;
    expect(rcf['h225.endpointIdentifier']).toBe('EP-0001');
    expect(rcf['h235.encryptedSessionKey']).toBe('77'.repeat(48));
    expect(by['RRJ (failure)']!['h225.securityIntegrityFailed_element']).not.toBe('');

    const light = by['RRQ keepAlive (H.235.1)']!;
    expect(light['h225.keepAlive']).toMatch(/^(1|True)$/);
    expect(light['h235.cryptoHashedToken_element']).not.toBe('');
    expect(light['h235.tokenOID']).toBe('0.0.8.235.0.2.1;0.0.8.235.0.2.5');
    expect(light['h235.algorithmOID']).toBe('0.0.8.235.0.2.6');
    expect(light['h235.random']).toBe('-2000000000');
    expect(light['h235.hash']).toBe('99'.repeat(12));

    expect(by['RIP']!['h225.delay']).toBe('2000');
  });

  it('400 generated messages: clean, each read as the type and sequence number written', () => {
    // SIGNED tokens are left out: Wireshark does not decode their open type (ToBeSigned).
    const exclude = new Set(['cryptoEPCert', 'cryptoGKCert', 'cryptoFastStart', 'cryptoSignedToken', 'certProtectedKey']);
    const messages = fc.sample(arbitraryFor(RasMessage, { opaque: false, wireshark: true, exclude }), { seed: 11, numRuns: 400 }) as RasMessageT[];
    const file = capture('generated', messages.map(encodeRas));
    expectClean(file);
    const rows = fields(file, ['h225.RasMessage', 'h225.requestSeqNum']);
    expect(rows.length).toBe(messages.length);
    messages.forEach((m, i) => {
      expect(Number(rows[i]!['h225.RasMessage']), `frame ${i + 1}`).toBe(RAS_INDEX[m.type]);
      // The first requestSeqNum shown is the message's own (nested ones come after it).
      expect(Number(rows[i]!['h225.requestSeqNum'].split(';')[0]), `frame ${i + 1}`).toBe((m as { value: { requestSeqNum: number } }).value.requestSeqNum);
    });
  });
});
