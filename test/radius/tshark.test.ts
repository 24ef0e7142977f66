import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestRequestAttributes, registeredAttributes, vectorRequestAttributes, failedAttributes } from '../../src/adapters/radius/auc-attributes.js';
import { encodePacket } from '../../src/radius/codec.js';
import { RadiusCode } from '../../src/radius/dictionary.js';
import { writePcap, type PcapPacket } from '../helpers/pcap.js';
import { hasBinary, run, wiresharkConfigDir } from './interop-tools.js';
import { SECRET, sendRaw, startPair } from './setup.js';

const present = hasBinary('tshark');
if (!present) console.warn('[keyswitch tests] tshark not found: RADIUS dissector checks SKIPPED');

describe.skipIf(!present)('tshark decodes our RADIUS exchanges', () => {
  let pair: Awaited<ReturnType<typeof startPair>>;
  let pcap: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    pair = await startPair();
    env = { ...process.env, WIRESHARK_CONFIG_DIR: wiresharkConfigDir() };
    const secret = Buffer.from(SECRET);
    const nas: [string, number] = ['192.0.2.10', 40000];
    const auth: [string, number] = ['192.0.2.20', 1812];
    const acct: [string, number] = ['192.0.2.20', 1813];
    const packets: PcapPacket[] = [];
    const exchange = async (port: 'auth' | 'acct', request: Buffer): Promise<void> => {
      const [answer] = await sendRaw(port === 'auth' ? pair.server.authPort : pair.server.acctPort, request, 100);
      if (!answer) throw new Error('server did not answer');
      const peer = port === 'auth' ? auth : acct;
      packets.push({ proto: 'udp', src: nas, dst: peer, payload: request }, { proto: 'udp', src: peer, dst: nas, payload: answer });
    };
    const access = (id: number, attributes: Parameters<typeof encodePacket>[0]['attributes']) =>
      encodePacket({ code: RadiusCode.AccessRequest, identifier: id, secret, requestAuthenticator: randomBytes(16), attributes });
    const accounting = (id: number, attributes: Parameters<typeof encodePacket>[0]['attributes']) =>
      encodePacket({ code: RadiusCode.AccountingRequest, identifier: id, secret, attributes });

    await exchange('auth', access(1, vectorRequestAttributes({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' })));
    await exchange('auth', access(2, vectorRequestAttributes({ idc: 'locked@lab.example', idsp: 'sbc1.lab.example' })));
    await exchange('auth', access(3, digestRequestAttributes({ idc: '1000@lab.example', username: '1000', realm: 'lab.example', algorithm: 'MD5' }, 'softswitch')));
    await exchange(
      'acct',
      accounting(4, registeredAttributes({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example', ipc: '192.0.2.7', protocol: 'sip', contact: 'sip:alice@192.0.2.7:5060', mechanism: 'tls-psk', expiresAt: Date.now() + 3_600_000, rand: pair.auc.vectors[0].rand })),
    );
    await exchange('acct', accounting(5, failedAttributes({ idc: 'bob@lab.example', idsp: 'sbc1.lab.example' }, 'f00d')));
    pcap = join(mkdtempSync(join(tmpdir(), 'ks-radius-pcap-')), 'radius.pcap');
    writePcap(pcap, packets);
  });
  afterAll(async () => pair.close());

  const tshark = (args: string[], secret = SECRET) =>
    run('tshark', ['-r', pcap, '-o', `radius.shared_secret:${secret}`, '-o', 'radius.validate_authenticator:TRUE', ...args], '', env);

  it('finds nothing malformed and no error-level expert info', async () => {
    const { code, out } = await tshark(['-Y', '_ws.malformed || _ws.expert.severity >= 8388608']);
    expect(code).toBe(0);
    expect(out.split('\n').filter((l) => l.trim() && !l.includes('Running as user'))).toEqual([]);
  });

  it('decodes codes, standard and vendor 32473 attributes by name, and validates every response authenticator', async () => {
    const { out } = await tshark(['-T', 'fields', '-E', 'separator=|', '-e', 'radius.code', '-e', 'radius.authenticator.valid', '-e', 'radius.User_Name', '-e', 'radius.Keyswitch_Rand', '-e', 'radius.Keyswitch_Reject_Reason', '-e', 'radius.Acct_Status_Type', '-e', 'radius.Keyswitch_Protocol', '-e', 'radius.Keyswitch_Locked']);
    const rows = out.split('\n').filter((l) => l.includes('|')).map((l) => l.split('|'));
    expect(rows.map((r) => r[0])).toEqual(['1', '2', '1', '3', '1', '2', '4', '5', '4', '5']);
    for (const r of rows.filter((r) => ['2', '3', '5'].includes(r[0]))) expect(r[1]).toBe('1');
    expect(rows[0][2]).toBe('alice@lab.example');
    expect(rows[1][3]).toBe(pair.auc.vectors[0].rand.toString('hex'));
    expect(rows[3][4]).toBe('4'); // Locked
    expect(rows[6][5]).toBe('1'); // Start
    expect(rows[6][6]).toBe('sip');
    expect(rows[8][5]).toBe('15'); // Failed
    expect(rows[9][7]).toBe('0'); // not locked
    const verbose = (await tshark(['-V', '-O', 'radius'])).out;
    for (const name of ['Keyswitch-Authenticator-C', 'Keyswitch-E-Kc', 'Keyswitch-E-Ksp', 'Keyswitch-Rand-Expires', 'Keyswitch-Digest-HA1', 'Keyswitch-Terminal-Address']) {
      expect(verbose).toContain(name);
    }
    expect(verbose).not.toContain('Unknown-Attribute');
  });

  it('flags the response authenticators as invalid under another secret (the check is live)', async () => {
    const { out } = await tshark(['-T', 'fields', '-e', 'radius.authenticator.invalid', '-Y', 'radius.code == 2 || radius.code == 5'], 'wrong-secret');
    const lines = out.split('\n').filter((l) => /^\d/.test(l));
    expect(lines).toHaveLength(4); // two Access-Accepts, two Accounting-Responses
    expect(lines.every((l) => l.trim() === '1')).toBe(true);
  });
});
