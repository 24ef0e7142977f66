/**
 * Secure voicemail through `keyswitch up` (docs/voicemail.md): a sipp UAC
 * calls a subscriber who is not registered, plays a known tone and presses
 * keys for the rights; the media server stores an encrypted package and
 * deposits its key with the licence server. A registered subscriber who is
 * busy gets the MWI NOTIFY and the SIP MESSAGE, then retrieves the message
 * over SIP with the a=drm offer/answer and decrypts the stream with its
 * licence. tshark reads the SIP, SDP and RTP of it clean. Then the attacks.
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LicenceClient } from '../../src/contracts/licence-client.js';
import { openPackage, readPackageHeader } from '../../src/contracts/voicemail-package.js';
import { createRequest, randomToken, type SipResponse } from '../../src/sip/index.js';
import { parseSdp, drmOffers } from '../../src/sdp/index.js';
import { freePortRun } from '../helpers/ports.js';
import { startUp, type Up } from '../helpers/up.js';
import { Phone, PASSWORDS } from '../softswitch/calls-phone.js';
import { holdsTone, leaksTone, offer, RtpPeer, rtpScript, TONE, writeScriptPcap } from './voicemail-rtp.js';

const hasSipp = spawnSync('sipp', ['-v']).error === undefined;
const hasTshark = spawnSync('tshark', ['--version']).status === 0;
if (!hasSipp) console.warn('[keyswitch tests] sipp not installed: voicemail through keyswitch up SKIPPED');
const SCEN = join(import.meta.dirname, '..', 'sipp', 'uac-voicemail.xml');

/** The caller's script: silence over the greeting, the tone, `#`, then private (3), at most 2 plays (4 2), 7 days (5 7), save (#). */
const DEPOSIT = rtpScript([{ pauseMs: 1600 }, { audio: TONE }, { key: '#' }, { pauseMs: 400 }, { key: '3' }, { key: '4' }, { key: '2' }, { key: '5' }, { key: '7' }, { key: '#' }]);

function sipp(args: string[], cwd: string): Promise<{ code: number | null; out: string }> {
  const p = spawn('sipp', [...args, '-nostdin', '-timeout', '40s', '-timeout_error', '-trace_err'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => p.on('close', (code) => resolve({ code, out })));
}

async function until<T>(what: string, f: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

(hasSipp ? describe : describe.skip)('secure voicemail through keyswitch up', () => {
  let up: Up;
  let licencePort: number;
  let ss: { address: string; port: number };
  let store: string;
  let licence: LicenceClient;
  const seen = new Set<string>();
  /** carol's phone, one for the tests that need her registered (a second one would leave a stale binding the softswitch tries first). */
  let carol: Phone | undefined;
  const carolPhone = async (): Promise<Phone> => (carol ??= await Phone.open('carol@lab.example', ss));
  /** The package a new deposit left (polls the media server's store). */
  const nextPackage = (): Promise<string> =>
    until('a stored package', () => {
      const f = existsSync(store) ? readdirSync(store).find((x) => x.endsWith('.ksvm') && !seen.has(x)) : undefined;
      if (f) seen.add(f);
      return f ? f.slice(0, -5) : undefined;
    });
  const caller = (callee: string, rtpPort: number, cwd: string) =>
    sipp(['-sf', SCEN, '-s', callee, '-key', 'caller', '1000', '-au', '1000', '-ap', 'pw-1000', '-auth_uri', `${callee}@127.0.0.1:${ss.port}`, '-m', '1', '-i', '127.0.0.1', '-p', '0', '-mp', String(rtpPort), `127.0.0.1:${ss.port}`], cwd);

  beforeAll(async () => {
    up = await startUp({
      prefix: 'ks-voicemail-',
      terminals: [
        { idc: '1000@127.0.0.1', sipPassword: 'pw-1000' },
        { idc: 'bob@lab.example', sipPassword: PASSWORDS['bob@lab.example']! },
        { idc: 'carol@lab.example', sipPassword: PASSWORDS['carol@lab.example']! },
      ],
      env: {
        // sipp reads only the first challenge and knows only MD5
        KEYSWITCH_DIGEST_ALGORITHMS: 'MD5,SHA-256',
        // the phones here call the softswitch straight from 127.0.0.1: not an SBC's address (whose unsigned ACKs are dropped)
        KEYSWITCH_TRUSTED_SBCS: '192.0.2.1/32',
        KEYSWITCH_VOICEMAIL_NO_ANSWER_SECONDS: '3',
        KEYSWITCH_MEDIA_RTP_TIMEOUT_SECONDS: '3',
        KEYSWITCH_MEDIA_MAX_DTMF_PER_SECOND: '10',
      },
    });
    ss = { address: '127.0.0.1', port: up.ports.ssSip! };
    licencePort = up.ports.licence!;
    store = join(up.dir, 'data', 'media');
    licence = new LicenceClient({ url: `https://127.0.0.1:${licencePort}`, certPem: readFileSync(join(up.dir, 'data', 'licence-cert.pem'), 'utf8'), mediaKey: '0'.repeat(64) });
  }, 60_000);

  afterAll(async () => {
    await carol?.close();
    await up?.stop();
  });

  it('a call to a subscriber who is not registered leaves an encrypted message with the rights chosen by DTMF', async () => {
    const mp = await freePortRun(4);
    writeScriptPcap(join(up.dir, 'voicemail.pcap'), DEPOSIT);
    const r = await caller('bob', mp!, up.dir);
    expect(r.code, r.out.slice(0, 2500)).toBe(0);
    const id = await nextPackage();
    const bytes = readFileSync(join(store, `${id}.ksvm`));
    // no plaintext on disk: no RIFF/WAVE container, no run of the tone
    expect(bytes.includes(Buffer.from('RIFF'))).toBe(false);
    expect(leaksTone(bytes)).toBe(false);
    const { header } = readPackageHeader(bytes);
    expect(header).toMatchObject({ messageId: id, to: 'bob@lab.example', codec: 'PCMU', rights: { mayForward: false, maxPlays: 2, expiresDays: 7 } });
    expect(header.from).toContain('1000@127.0.0.1');
    // the deposited key opens it, and what it holds is the tone
    const got = await licence.licence(id, 'bob@lab.example', PASSWORDS['bob@lab.example']!);
    expect(got.keyId).toBe(header.keyId);
    const { audio } = openPackage(bytes, Buffer.from(got.contentKey, 'base64url'));
    expect(holdsTone(audio)).toBe(true);
    expect(got.rights).toMatchObject({ playsLeft: 1, mayForward: false });
  }, 60_000);

  it('a call nobody answers goes to voicemail after softswitch.voicemail.noAnswerSeconds: the ringing phone is cancelled', async () => {
    const carol = await carolPhone();
    try {
      expect((await carol.register()).status).toBe(200);
      carol.behaviour = 'ring';
      const mp = await freePortRun(4);
      writeScriptPcap(join(up.dir, 'voicemail.pcap'), DEPOSIT);
      const r = await caller('carol', mp!, up.dir);
      expect(r.code, r.out.slice(0, 2500)).toBe(0);
      const id = await nextPackage();
      expect(readPackageHeader(readFileSync(join(store, `${id}.ksvm`))).header.to).toBe('carol@lab.example');
      expect(carol.cancelled.size).toBe(1);
    } finally {
      carol.behaviour = 'answer';
    }
  }, 60_000);

  it('a subscriber who routes its own INVITE to the media server (Route, forged Diversion and P-KS-Voicemail) is refused 403', async () => {
    const bob = await Phone.open('bob@lab.example', ss);
    try {
      const media = up.ports.media!;
      const call = await bob.invite('carol@lab.example', {
        uri: `sip:carol@127.0.0.1:${media}`,
        headers: [['Route', `<sip:127.0.0.1:${media};lr>`], ['Diversion', '<sip:carol@lab.example>;reason=unavailable'], ['P-KS-Voicemail', 'deposit'], ['P-Asserted-Identity', '<sip:carol@lab.example>']],
        body: offer(40000),
      });
      const res = await call.final;
      expect(call.challenged).toBe(true);
      expect(res.status).toBe(403);
      expect(res.get('Warning')).toMatch(/voicemail policy/);
    } finally {
      await bob.close();
    }
  });

  it('a busy subscriber gets MWI and a MESSAGE; retrieval over SIP with a=drm streams the protected message, decrypted with the licence', async () => {
    const carol = await carolPhone();
    const rtp = await RtpPeer.open();
    const mp = await freePortRun(4);
    let cap: ChildProcess | undefined;
    const pcap = join(up.dir, 'voicemail.pcapng');
    const watched = [ss.port, up.ports.media!, mp!, rtp.port, carol.transport.port];
    if (hasTshark) {
      cap = spawn('tshark', ['-P', '-i', 'lo', '-f', watched.map((p) => `udp port ${p}`).join(' or '), '-w', pcap], { stdio: ['ignore', 'pipe', 'pipe'] });
      let n = 0;
      cap.stdout!.on('data', (d: Buffer) => (n += d.length));
      // the capture is live once it sees our probes
      for (let i = 0; i < 100 && n === 0; i++) {
        await carol.stack.send(createRequest('OPTIONS', `sip:127.0.0.1:${ss.port}`, [['From', `<sip:carol@lab.example>;tag=${randomToken()}`], ['To', `<sip:127.0.0.1:${ss.port}>`], ['Call-ID', randomToken()], ['CSeq', '1 OPTIONS'], ['Max-Forwards', '70']]), { destination: ss });
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    try {
      expect((await carol.register()).status).toBe(200);
      carol.received.length = 0;
      carol.behaviour = 'busy';
      writeScriptPcap(join(up.dir, 'voicemail.pcap'), DEPOSIT);
      const r = await caller('carol', mp!, up.dir);
      expect(r.code, r.out.slice(0, 2500)).toBe(0);
      const id = await nextPackage();
      const notify = await carol.waitFor('NOTIFY', undefined, 10_000);
      expect(notify.get('Event')).toBe('message-summary');
      expect(notify.get('Content-Type')).toBe('application/simple-message-summary');
      const carols = readdirSync(store).filter((f) => f.endsWith('.ksvm') && readPackageHeader(readFileSync(join(store, f))).header.to === 'carol@lab.example').length;
      expect(notify.body.toString()).toBe(`Messages-Waiting: yes\r\nMessage-Account: sip:carol@lab.example\r\nVoice-Message: ${carols}/0 (0/0)\r\n`);
      const message = await carol.waitFor('MESSAGE');
      const address = `sip:carol.${id}@127.0.0.1:${up.ports.media}`;
      expect(message.body.toString()).toContain(address);

      // retrieval: INVITE to the message's address with a DRM offer, through the softswitch (407 Digest)
      const call = await carol.invite('carol@lab.example', { uri: address, body: offer(rtp.port, ['a=drm:ksdrm 0 0 HTTP/TLS']) });
      const ok = (await call.final) as SipResponse;
      expect(call.challenged).toBe(true);
      expect(ok.status, ok.reason).toBe(200);
      const answer = parseSdp(ok.body);
      if (!answer.ok) throw new Error(answer.error);
      const m = answer.sdp.media[0]!;
      expect(drmOffers(answer.sdp, m).offers).toEqual([{ type: 'ksdrm', address: '127.0.0.1', port: licencePort, transport: 'HTTP/TLS' }]);
      // the player fetches the licence, then ACKs; the media server streams the package
      const lic = await licence.licence(id, 'carol@lab.example', PASSWORDS['carol@lab.example']!);
      await carol.ack(call.inv, ok);
      await carol.waitFor('BYE', undefined, 15_000);
      const stored = readFileSync(join(store, `${id}.ksvm`));
      const streamed = Buffer.concat(rtp.received.filter((x) => x.from === `127.0.0.1:${m.port}`).sort((a, b) => a.p.sequence - b.p.sequence).map((x) => x.p.payload));
      expect(streamed.equals(stored)).toBe(true);
      expect(leaksTone(streamed)).toBe(false);
      expect(holdsTone(openPackage(streamed, Buffer.from(lic.contentKey, 'base64url')).audio)).toBe(true);
    } finally {
      await new Promise((r) => setTimeout(r, 300));
      cap?.kill('SIGINT');
      if (cap) await new Promise((r) => cap!.once('exit', r));
      rtp.close();
    }
    if (hasTshark) {
      const decodeAs = [...[ss.port, up.ports.media!, carol.transport.port].flatMap((p) => ['-d', `udp.port==${p},sip`]), ...[mp!, rtp.port].flatMap((p) => ['-d', `udp.port==${p},rtp`])];
      const tshark = (...args: string[]) => execFileSync('tshark', ['-r', pcap, ...decodeAs, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      expect(tshark('-Y', '_ws.malformed || _ws.expert.severity >= 8388608').trim()).toBe('');
      const protocols = tshark('-T', 'fields', '-e', 'frame.protocols').split('\n');
      expect(protocols.some((p) => p.endsWith(':sip:sdp'))).toBe(true);
      expect(protocols.filter((p) => p.endsWith(':rtp')).length).toBeGreaterThan(100);
      expect(tshark('-Y', 'rtpevent', '-T', 'fields', '-e', 'rtpevent.event_id').split('\n').filter(Boolean).length).toBeGreaterThan(0);
      const drm = tshark('-Y', 'sdp.media_attribute.field == "drm"', '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=|', '-e', 'sdp.media_attr').split(/[|\n]/).filter((a) => a.startsWith('drm:'));
      expect([...new Set(drm)].sort()).toEqual([`drm:ksdrm 0 0 HTTP/TLS`, `drm:ksdrm 127.0.0.1 ${licencePort} HTTP/TLS`].sort());
      expect([...new Set(tshark('-Y', 'sip.Method == "NOTIFY"', '-T', 'fields', '-e', 'sip.Event').split('\n').filter(Boolean))]).toEqual(['message-summary']);
    }
  }, 90_000);
});
