/**
 * The media server's SIP user agent alone, as the softswitch reaches it
 * (signed INVITEs with Diversion and P-Asserted-Identity): the hostile
 * cases of docs/voicemail.md, each refused or contained while a legitimate
 * call still works — unsigned INVITEs, malformed SDP, a DRM offer with no
 * type in common, forged and foreign message ids, RTP from a wrong source, a
 * DTMF flood, a hung caller, and a disk that fills while recording.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signCoreLink } from '../../src/adapters/sip/core-link.js';
import type { Deposit } from '../../src/contracts/licence.js';
import { Mailbox } from '../../src/media/mailbox.js';
import { openPackage, readPackageHeader } from '../../src/contracts/voicemail-package.js';
import { PackageStore } from '../../src/media/package-store.js';
import { MediaServer } from '../../src/media/server.js';
import { NameStore } from '../../src/media/names.js';
import { createAckFor2xx, createRequest, createSipStack, createUdpTransport, randomToken, type SipRequest, type SipResponse, type SipStack } from '../../src/sip/index.js';
import { drmOffers, parseSdp } from '../../src/sdp/index.js';
import { encodeG711, tones } from '../../src/rtp/index.js';
import { holdsTone, leaksTone, offer, RtpPeer, rtpScript, TONE } from './voicemail-rtp.js';

const KEY = randomBytes(32);
const fast = { T1: 50, T2: 200, T4: 500 };

describe('media server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-media-'));
  const deposits: Deposit[] = [];
  let server: MediaServer;
  let stack: SipStack;
  let ua: SipStack;
  let port: number;
  let store: PackageStore;
  let mailbox: Mailbox;
  const byes: SipRequest[] = [];

  beforeAll(async () => {
    store = new PackageStore(join(dir, 'media'));
    mailbox = new Mailbox({ store, licence: { deposit: async (d) => (deposits.push(d), { messageId: d.messageId, created: true }) }, notify: async () => undefined });
    const t = await createUdpTransport({ host: '127.0.0.1', port: 0 });
    port = t.port;
    server = new MediaServer({
      host: '127.0.0.1', port, linkKey: KEY, store,
      limits: { maxRecordMs: 60_000, silenceMs: 60_000, rtpTimeoutMs: 2500, menuTimeoutMs: 5000, maxDtmfPerSecond: 5, silenceLevel: 200 },
      defaults: { maxPlays: 0, expiresDays: 30, mayForward: true },
      maxCalls: 10,
      licence: { host: '127.0.0.1', port: 8443 },
      names: new NameStore(join(dir, 'media'), KEY),
      onRecording: (r) => void mailbox.keep(r),
    });
    stack = createSipStack({ transports: [t], onRequest: server.onRequest, timers: fast });
    server.attach(stack);
    const u = await createUdpTransport({ host: '127.0.0.1', port: 0 });
    ua = createSipStack({ transports: [u], timers: fast, onRequest: (req, ctx) => {
      if (req.method === 'BYE') byes.push(req);
      ctx.respond(200);
    } });
  });

  afterAll(async () => {
    server.close();
    await stack.close();
    await ua.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** An INVITE as the softswitch sends it: Diversion for a deposit, P-Asserted-Identity for the caller, signed. */
  function invite(o: { user?: string; body?: Buffer | string; owner?: string; asserted?: string; sign?: boolean; contentType?: string; kind?: string | null }): SipRequest {
    const headers: Array<[string, string]> = [
      ['From', `"Alice" <sip:alice@lab.example>;tag=${randomToken()}`],
      ['To', `<sip:${o.owner ?? 'bob@lab.example'}>`],
      ['Call-ID', randomToken(12)],
      ['CSeq', '1 INVITE'],
      ['Max-Forwards', '70'],
      ['Contact', `<sip:alice@127.0.0.1:${ua.transports[0]!.port}>`],
      ['Content-Type', o.contentType ?? 'application/sdp'],
    ];
    if (o.owner !== undefined || o.user === undefined) headers.push(['Diversion', `<sip:${o.owner ?? 'bob@lab.example'}>;reason=unavailable`]);
    if (o.asserted) headers.push(['P-Asserted-Identity', `<sip:${o.asserted}>`]);
    if (o.kind !== null) headers.push(['P-KS-Voicemail', o.kind ?? (o.user === undefined ? 'deposit' : 'retrieval')]);
    const req = createRequest('INVITE', `sip:${o.user ?? 'bob'}@127.0.0.1:${port}`, headers, Buffer.from(o.body ?? ''));
    if (o.sign !== false) signCoreLink(req, KEY);
    return req;
  }

  const send = (req: SipRequest): Promise<SipResponse> => ua.send(req, { destination: { address: '127.0.0.1', port } });

  /** A whole deposit: INVITE, ACK, the script from `peer` (and `extra` from elsewhere), hang up or wait for the server's BYE. */
  async function deposit(script: ReturnType<typeof rtpScript>, o: { bye?: boolean; during?: (media: { address: string; port: number }, caller: RtpPeer) => Promise<void> } = {}): Promise<{ id: string | undefined; ok: SipResponse; callId: string; heard: Buffer }> {
    const peer = await RtpPeer.open();
    try {
      const inv = invite({ body: offer(peer.port) });
      const before = deposits.length;
      const ok = await send(inv);
      expect(ok.status).toBe(200);
      const ans = parseSdp(ok.body);
      if (!ans.ok) throw new Error(ans.error);
      const media = { address: '127.0.0.1', port: ans.sdp.media[0]!.port };
      await ua.sendStateless(createAckFor2xx(inv, ok), { destination: { address: '127.0.0.1', port } });
      await Promise.all([peer.play(script, media), o.during?.(media, peer)]);
      if (o.bye !== false) {
        const bye = createRequest('BYE', `sip:media@127.0.0.1:${port}`, [['From', inv.get('From')!], ['To', ok.get('To')!], ['Call-ID', inv.callId()], ['CSeq', '2 BYE'], ['Max-Forwards', '70']]);
        expect((await send(bye)).status).toBe(200);
      }
      const end = Date.now() + 8000;
      while (deposits.length === before && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
      return { id: deposits[before]?.messageId, ok, callId: inv.callId(), heard: Buffer.concat(peer.received.sort((a, b) => a.p.sequence - b.p.sequence).map((x) => x.p.payload)) };
    } finally {
      peer.close();
    }
  }

  it('takes INVITEs only with the softswitch signature: unsigned, re-signed by another key, or replayed get 403', async () => {
    const plain = invite({ body: offer(40000), sign: false });
    expect((await send(plain)).status).toBe(403);
    const forged = invite({ body: offer(40000), sign: false });
    signCoreLink(forged, randomBytes(32));
    expect((await send(forged)).status).toBe(403);
    const before = server.st.refusedUnsigned;
    const signed = invite({ body: offer(40000), contentType: 'text/plain' });
    expect((await send(signed)).status).toBe(400);
    // the same bytes again (a captured INVITE replayed on a new transaction): its MAC was spent
    const again = signed.clone();
    again.remove('Via');
    expect((await send(again)).status).toBe(403);
    expect(server.st.refusedUnsigned).toBe(before + 1);
    // signed, but not the policy's: without P-KS-Voicemail, or claiming a deposit to a retrieval address
    expect((await send(invite({ body: offer(40000), kind: null }))).status).toBe(403);
    expect((await send(invite({ user: `bob.${randomBytes(16).toString('hex')}`, asserted: 'bob@lab.example', body: offer(40000), kind: 'deposit' }))).status).toBe(403);
  });

  it('answers a malformed or missing SDP 400 with the reason, a non-G.711 offer 488, and still takes a good call', async () => {
    for (const body of ['', 'v=0\r\nthis is not sdp\r\n', 'v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n', 'v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 example.com\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n']) {
      const res = await send(invite({ body }));
      expect(res.status, body).toBe(400);
      expect(res.get('Warning')).toMatch(/SDP/);
    }
    const g729 = await send(invite({ body: 'v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n' }));
    expect(g729.status).toBe(488);
    const { id } = await deposit(rtpScript([{ audio: TONE }, { key: '#' }]));
    expect(id).toBeDefined();
  });

  it('ignores RTP from another address or port than the SDP named: the stored message holds none of it', async () => {
    // two intruders while the caller records: the caller's address from another port, and the caller's port from another address
    const otherPort = encodeG711('PCMU', tones([[1500, 1000]], 9000));
    const otherAddress = encodeG711('PCMU', tones([[2300, 1000]], 9000));
    const intruders: RtpPeer[] = [];
    try {
      const before = server.st.rtpWrongSource;
      const { id } = await deposit(rtpScript([{ pauseMs: 1400 }, { audio: TONE }, { key: '#' }]), {
        during: async (media, caller) => {
          intruders.push(await RtpPeer.open('127.0.0.1'), await RtpPeer.open('127.0.0.2', caller.port));
          await Promise.all([intruders[0]!.play(rtpScript([{ pauseMs: 1400 }, { audio: otherPort }]), media), intruders[1]!.play(rtpScript([{ pauseMs: 1400 }, { audio: otherAddress }]), media)]);
        },
      });
      // opened as its owner would: the content key the licence server was given
      const d = deposits.find((x) => x.messageId === id)!;
      const { audio } = openPackage(readFileSync(store.path(id!)), Buffer.from(d.contentKey, 'base64url'));
      expect(holdsTone(audio)).toBe(true);
      expect(leaksTone(audio, otherPort)).toBe(false);
      expect(leaksTone(audio, otherAddress)).toBe(false);
      expect(server.st.rtpWrongSource - before).toBeGreaterThan(2 * 100);
    } finally {
      for (const i of intruders) i.close();
    }
  });

  it('a DTMF flood is cut to the per-second bound: the menu takes what fits and the call goes on', async () => {
    const before = server.st.dtmfDropped;
    // 60 presses of "3" (private) at 50 per second, then the tone, then # and # (save)
    const flood = rtpScript(Array.from({ length: 60 }, () => ({ key: '3' })));
    const quick = flood.map((p, i) => ({ at: Math.floor(i / 9) * 20, bytes: p.bytes }));
    const { id } = await deposit([...quick, ...rtpScript([{ pauseMs: 200 }, { audio: TONE }, { key: '#' }, { pauseMs: 300 }, { key: '#' }]).map((p) => ({ at: p.at + 1500, bytes: p.bytes }))], { bye: false });
    expect(id).toBeDefined();
    expect(server.st.dtmfDropped - before).toBeGreaterThan(0);
    // the keys of the flood fell during the greeting (no meaning there); the message kept the defaults
    expect(readPackageHeader(readFileSync(store.path(id!))).header.rights).toEqual({ mayForward: true, maxPlays: 0, expiresDays: 30 });
  });

  it('a caller that goes silent without BYE is hung up on after the RTP timeout, and what it said is kept', async () => {
    // the 1.4 s pause outlasts the greeting and stays under the 2.5 s RTP timeout (1.5 s left too little margin on a loaded machine under faketime)
    const { id, callId } = await deposit(rtpScript([{ pauseMs: 1400 }, { audio: TONE }]), { bye: false });
    expect(id).toBeDefined();
    // the message is stored before the BYE leaves; the BYE crosses UDP after it
    const end = Date.now() + 3000;
    while (!byes.some((b) => b.callId() === callId) && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
    expect(byes.filter((b) => b.callId() === callId)).toHaveLength(1);
    const d = deposits.find((x) => x.messageId === id)!;
    expect(holdsTone(openPackage(readFileSync(store.path(id!)), Buffer.from(d.contentKey, 'base64url')).audio)).toBe(true);
  });

  it('retrieval: a forged id and another mailbox\'s id get the same 404; no DRM type in common gets 488 with a=drm:0 0 0 0; the owner gets the a=drm answer', async () => {
    const { id } = await deposit(rtpScript([{ audio: TONE }, { key: '#' }]));
    const drm = ['a=drm:ksdrm 0 0 HTTP/TLS'];
    const forged = await send(invite({ user: `bob.${randomBytes(16).toString('hex')}`, asserted: 'bob@lab.example', body: offer(40000, drm) }));
    const foreign = await send(invite({ user: `carol.${id}`, asserted: 'carol@lab.example', body: offer(40000, drm) }));
    const unasserted = await send(invite({ user: `bob.${id}`, body: offer(40000, drm) }));
    expect([forged.status, foreign.status, unasserted.status]).toEqual([404, 404, 403]);
    expect(forged.get('Warning')).toBe(foreign.get('Warning'));
    const none = await send(invite({ user: `bob.${id}`, asserted: 'bob@lab.example', body: offer(40000, ['a=drm:otherdrm 0 0 HTTP/TLS']) }));
    expect(none.status).toBe(488);
    const nsdp = parseSdp(none.body);
    if (!nsdp.ok) throw new Error(nsdp.error);
    expect(drmOffers(nsdp.sdp, nsdp.sdp.media[0]).offers).toEqual([{ type: '0', address: '0', port: 0, transport: '0' }]);
    const bad = await send(invite({ user: `bob.${id}`, asserted: 'bob@lab.example', body: offer(40000, ['a=drm:ksdrm']) }));
    expect(bad.status).toBe(488);
    const good = await send(invite({ user: `bob.${id}`, asserted: 'bob@lab.example', body: offer(40000, drm) }));
    expect(good.status).toBe(200);
    const gsdp = parseSdp(good.body);
    if (!gsdp.ok) throw new Error(gsdp.error);
    expect(drmOffers(gsdp.sdp, gsdp.sdp.media[0]).offers).toEqual([{ type: 'ksdrm', address: '127.0.0.1', port: 8443, transport: 'HTTP/TLS' }]);
  });

  it('a subscriber records its name (only its own): kept sealed, then played to its callers before the beep', async () => {
    const NAME = encodeG711('PCMU', tones([[700, 600], [1200, 600]], 9000));
    const denied = await send(invite({ user: 'bob.name', asserted: 'carol@lab.example', body: offer(40000) }));
    expect(denied.status).toBe(403);
    const peer = await RtpPeer.open();
    try {
      const inv = invite({ user: 'bob.name', asserted: 'bob@lab.example', body: offer(peer.port) });
      const ok = await send(inv);
      expect(ok.status).toBe(200);
      const ans = parseSdp(ok.body);
      if (!ans.ok) throw new Error(ans.error);
      await ua.sendStateless(createAckFor2xx(inv, ok), { destination: { address: '127.0.0.1', port } });
      await peer.play(rtpScript([{ pauseMs: 400 }, { audio: NAME }, { key: '#' }]), { address: '127.0.0.1', port: ans.sdp.media[0]!.port });
      const end = Date.now() + 3000;
      while (readdirSync(join(dir, 'media', 'names')).filter((f) => f.endsWith('.name')).length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
    } finally {
      peer.close();
    }
    const files = readdirSync(join(dir, 'media', 'names')).filter((f) => f.endsWith('.name'));
    expect(files).toHaveLength(1);
    expect(leaksTone(readFileSync(join(dir, 'media', 'names', files[0]!)), NAME)).toBe(false);
    const { heard } = await deposit(rtpScript([{ pauseMs: 3000 }, { audio: TONE }, { key: '#' }]));
    expect(holdsTone(heard, NAME)).toBe(true);
  });
});

describe('media server store on a full disk', () => {
  it('a package that cannot be written leaves nothing: no temporary file, no partial plaintext, no deposit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ks-media-full-'));
    try {
      // A real write failure mid-file: the file-size limit (RLIMIT_FSIZE, 8 KiB) makes write(2) fail with EFBIG after 8 KiB, as a full disk fails with ENOSPC.
      const script = `
        import { Mailbox } from ${JSON.stringify(join(import.meta.dirname, '../../src/media/mailbox.ts'))};
        import { PackageStore } from ${JSON.stringify(join(import.meta.dirname, '../../src/media/package-store.ts'))};
        import { encodeG711, tones } from ${JSON.stringify(join(import.meta.dirname, '../../src/rtp/index.ts'))};
        const deposits = [];
        const store = new PackageStore(process.argv[1]);
        const mb = new Mailbox({ store, licence: { deposit: async (d) => (deposits.push(d), { messageId: d.messageId, created: true }) }, notify: async () => undefined, logger: { error: (o, m) => console.log('error', o.code, m), warn() {}, info() {} } });
        const audio = encodeG711('PCMU', tones([[440, 4000]], 9000));
        const id = await mb.keep({ audio, rights: { maxPlays: 0, expiresDays: 0, mayForward: true }, owner: 'bob@lab.example', sender: '', senderDisplay: 'x', codec: 'PCMU' });
        console.log(JSON.stringify({ id: id ?? null, deposits: deposits.length, st: mb.st, zeroed: audio.every((b) => b === 0) }));
      `;
      const out = execFileSync('bash', ['-c', `ulimit -f 8; exec node --import tsx --input-type=module -e "$0" "$1"`, script, join(dir, 'media')], { encoding: 'utf8', cwd: join(import.meta.dirname, '../..') });
      const last = JSON.parse(out.trim().split('\n').pop()!);
      expect(out).toMatch(/error EFBIG/);
      expect(last).toEqual({ id: null, deposits: 0, st: { stored: 0, storeFailed: 1, deposited: 0, depositFailed: 0 }, zeroed: true });
      expect(readdirSync(join(dir, 'media'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
