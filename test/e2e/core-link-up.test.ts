/**
 * Issue 8, item 4, against `keyswitch up`: trust by IP address alone.
 *
 * A local process sends straight to the softswitch's SIP port, from
 * 127.0.0.1 (inside `softswitch.trustedSbcs`), what only the SBC may say:
 * an INVITE "from alice" with `P-KS-Auth` and `P-Asserted-Identity`, a
 * REGISTER refresh for bob with `P-KS-IDSP`/`P-KS-Auth` and its own Contact,
 * an in-dialog BYE, and link signatures captured on the SBC ↔ softswitch leg
 * replayed on other requests. Each must be challenged (407/401), reach
 * nobody and change nothing, while calls between two real terminals through
 * the SBC go on working. The SBC → softswitch leg runs over UDP
 * (sbc.coreTransport) through a relay in this test, which is how the
 * signatures are captured.
 */
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { P_KS_LINK } from '../../src/adapters/sip/core-link.js';
import {
  createRequest, createSipStack, createUdpTransport, parseMessage, randomToken,
  type SipRequest, type SipResponse, type SipStack,
} from '../../src/sip/index.js';
import { BIN } from '../helpers/cli.js';
import { startUp, type Up } from '../helpers/up.js';
import { startUdpProxy, type UdpProxy } from '../h248/udp-proxy.js';

const ALICE = 'alice@lab.example';
const BOB = 'bob@lab.example';
const IDSP = 'sbc1.lab.example';

interface Term {
  lines: Array<Record<string, unknown>>;
  saw(event: string, n?: number): Promise<void>;
  exit: Promise<number | null>;
  kill(): void;
}

/** A `keyswitch terminal …` process (async: the relay runs in this process and must not be blocked). */
function terminal(args: string[]): Term {
  const proc = spawn(process.execPath, [BIN, 'terminal', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  let buf = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      try {
        lines.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      } catch {
        // not an event line
      }
      buf = buf.slice(nl + 1);
    }
  });
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    lines,
    async saw(event, n = 1) {
      const end = Date.now() + 20_000;
      while (lines.filter((l) => l.event === event).length < n) {
        if (proc.exitCode !== null || Date.now() > end) throw new Error(`no "${event}" #${n}: ${JSON.stringify(lines)} ${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    exit,
    kill: () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
    },
  };
}

describe('keyswitch up: the softswitch believes only the SBC, not its address (issue 8, item 4)', () => {
  let up: Up;
  let relay: UdpProxy;
  let ss: { address: string; port: number };
  let sbcPort: number;
  let local: SipStack;
  let bob: Term;
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    up = await startUp({
      terminals: [ALICE, BOB],
      prefix: 'ks-link-',
      env: async (ports) => {
        ss = { address: '127.0.0.1', port: ports.ssSip! };
        relay = await startUdpProxy({ host: '127.0.0.1', port: ss.port });
        return { KEYSWITCH_SBC_SOFTSWITCH: `127.0.0.1:${relay.port}`, KEYSWITCH_SBC_CORE_TRANSPORT: 'udp' };
      },
    });
    sbcPort = up.ports.sbcSip!;
    Object.assign(keys, up.keys);
    local = createSipStack({ transports: [await createUdpTransport({ host: '127.0.0.1' })], onRequest: () => undefined, timers: { T1: 100, T2: 400, T4: 1000 } });
    bob = terminal(['answer', '--id', BOB, '--key', keys[BOB]!, '--sbc', `127.0.0.1:${sbcPort}`, '--mechs', 'app-hmac;q=0.5', '--calls', '2', '--timeout', '120']);
    await bob.saw('registered');
  }, 60_000);
  afterAll(async () => {
    bob?.kill();
    await local?.close();
    await up?.stop();
    relay?.close();
  });

  const call = async (n: number): Promise<void> => {
    const alice = terminal(['call', '--id', ALICE, '--key', keys[ALICE]!, '--sbc', `127.0.0.1:${sbcPort}`, '--mechs', 'app-hmac;q=0.5', '--to', BOB, '--hold', '0']);
    expect(await alice.exit, JSON.stringify(alice.lines)).toBe(0);
    expect(alice.lines.map((l) => l.event)).toContain('answered');
    await bob.saw('confirmed', n);
  };
  /** What went over the SBC ↔ softswitch leg: requests, parsed. */
  const captured = (dir: 'up' | 'down', method: string): SipRequest[] =>
    relay.captured.filter((c) => c.dir === dir).flatMap((c) => {
      const r = parseMessage(c.payload);
      return r.ok && r.message.isRequest() && r.message.method === method ? [r.message] : [];
    });
  const send = (req: SipRequest): Promise<SipResponse> => local.send(req, { destination: ss });
  const incomingAtBob = () => bob.lines.filter((l) => l.event === 'incoming').length;
  const forgedInvite = (): SipRequest =>
    createRequest('INVITE', `sip:${BOB}`, [
      ['From', `<sip:${ALICE}>;tag=${randomToken()}`], ['To', `<sip:${BOB}>`], ['Call-ID', randomToken(12)], ['CSeq', '1 INVITE'], ['Max-Forwards', '70'],
      ['Contact', '<sip:alice@127.0.0.1:5999>'], ['P-KS-IDSP', IDSP], ['P-KS-Auth', 'mechanism=app-hmac'], ['P-Asserted-Identity', `<sip:${ALICE}>`],
    ]);

  it('a call between two real terminals through the SBC works, every request to the softswitch signed; the key is in the data directory, mode 0600', async () => {
    await call(1);
    const invites = captured('up', 'INVITE');
    expect(invites).toHaveLength(1);
    expect(invites[0]!.get('P-Asserted-Identity')).toBe(`<sip:${ALICE}>`);
    for (const m of ['INVITE', 'ACK', 'BYE', 'REGISTER']) {
      expect(captured('up', m).length, m).toBeGreaterThan(0);
      for (const r of captured('up', m)) expect(r.getAll(P_KS_LINK), m).toEqual([expect.stringMatching(/^ts=\d+;mac=[A-Za-z0-9_-]{43}$/)]);
    }
    expect(statSync(join(up.dir, 'data', 'core-link.key')).mode & 0o777).toBe(0o600);
  });

  it('an INVITE "from alice" with P-KS-Auth and P-Asserted-Identity sent straight to the softswitch from 127.0.0.1: 407, bob never sees it', async () => {
    const before = incomingAtBob();
    const r = await send(forgedInvite());
    expect(r.status).toBe(407);
    expect(r.getAll('Proxy-Authenticate').length).toBeGreaterThan(0);
    await new Promise((res) => setTimeout(res, 300));
    expect(incomingAtBob()).toBe(before);
  });

  it('a REGISTER for bob carrying P-KS-IDSP and P-KS-Auth (a "refresh proved at the SBC") with another Contact: 401, no binding made', async () => {
    const reg = createRequest('REGISTER', 'sip:lab.example', [
      ['From', `<sip:${BOB}>;tag=${randomToken()}`], ['To', `<sip:${BOB}>`], ['Call-ID', randomToken(12)], ['CSeq', '1 REGISTER'], ['Max-Forwards', '70'],
      ['Contact', '<sip:bob@127.0.0.1:5998>'], ['Expires', '3600'], ['P-KS-IDSP', IDSP], ['P-KS-Auth', 'mechanism=app-hmac'],
    ]);
    const r = await send(reg);
    expect(r.status).toBe(401);
    expect(r.getAll('Contact')).toEqual([]);
  });

  it('a link signature captured on the SBC ↔ softswitch leg, put on another INVITE or replayed with its request: 407', async () => {
    const real = captured('up', 'INVITE')[0]!;
    const lifted = forgedInvite();
    lifted.set(P_KS_LINK, real.get(P_KS_LINK)!);
    expect((await send(lifted)).status).toBe(407);
    // the captured INVITE itself, in a new transaction (only its Via is new; everything the MAC covers is as captured)
    const again = real.clone();
    again.remove('Via');
    expect((await send(again)).status).toBe(407);
    // a captured BYE's signature on a BYE for the same dialog with another CSeq
    const bye = captured('up', 'BYE')[0]!.clone();
    bye.remove('Via');
    bye.set('CSeq', `${bye.cseq().seq + 1} BYE`);
    expect((await send(bye)).status).toBe(407);
    await new Promise((res) => setTimeout(res, 300));
    expect(incomingAtBob()).toBe(1);
  });

  it('an in-dialog BYE straight to the softswitch (To tag, bob\'s contact as seen on the core leg, no Route): 407, not passed to bob', async () => {
    const toBob = captured('down', 'INVITE')[0]!;
    const bye = createRequest('BYE', toBob.uri, [
      ['From', `<sip:${ALICE}>;tag=${toBob.from().params.tag}`], ['To', `<sip:${BOB}>;tag=${randomToken()}`], ['Call-ID', toBob.callId()],
      ['CSeq', '9 BYE'], ['Max-Forwards', '70'], ['P-KS-IDSP', IDSP], ['P-KS-Auth', 'mechanism=app-hmac'], ['P-Asserted-Identity', `<sip:${ALICE}>`],
    ]);
    const before = captured('down', 'BYE').length;
    expect((await send(bye)).status).toBe(407);
    await new Promise((res) => setTimeout(res, 300));
    expect(captured('down', 'BYE')).toHaveLength(before);
  });

  it('a P-KS-Link from the untrusted side is stripped by the SBC: only its own reaches the softswitch', async () => {
    const fake = `ts=${Date.now()};mac=${'A'.repeat(43)}`;
    const phone = createSipStack({ transports: [await createUdpTransport({ host: '127.0.0.1' })], onRequest: () => undefined, timers: { T1: 100, T2: 400, T4: 1000 } });
    try {
      const callId = randomToken(12);
      const reg = createRequest('REGISTER', 'sip:lab.example', [
        // a phone without a KS1 session at the SBC (a Digest phone's first REGISTER): forwarded to the softswitch
        ['From', '<sip:dave@lab.example>;tag=' + randomToken()], ['To', '<sip:dave@lab.example>'], ['Call-ID', callId], ['CSeq', '1 REGISTER'], ['Max-Forwards', '70'],
        ['Contact', '<sip:dave@127.0.0.1:5997>'], [P_KS_LINK, fake], ['P-KS-Auth', 'mechanism=app-hmac'],
      ]);
      // answered by the softswitch as any Digest phone's first REGISTER is: the point is what reached it
      expect((await phone.send(reg, { destination: { address: '127.0.0.1', port: sbcPort } })).status).toBeGreaterThanOrEqual(400);
      const arrived = captured('up', 'REGISTER').filter((r) => r.callId() === callId);
      expect(arrived).toHaveLength(1);
      expect(arrived[0]!.getAll(P_KS_LINK)).toEqual([expect.not.stringContaining('A'.repeat(43))]);
      expect(arrived[0]!.get('P-KS-Auth')).toBeUndefined();
    } finally {
      await phone.close();
    }
  });

  it('the SBC takes requests on its core side only with the softswitch\'s signature: an INVITE to bob sent there by a local process reaches nobody', async () => {
    const toBob = captured('down', 'INVITE');
    expect(toBob.length).toBeGreaterThan(0);
    for (const r of toBob) expect(r.getAll(P_KS_LINK)).toHaveLength(1);
    // the SBC's core-side socket, as the relay saw it (terminals see it in Record-Route too)
    const [address, port] = relay.clients()[0]!.split(':') as [string, string];
    const at = { address, port: Number(port) };
    const forged = (link?: string) => {
      const r = createRequest('INVITE', toBob[0]!.uri, [
        ['From', `<sip:${ALICE}>;tag=${randomToken()}`], ['To', `<sip:${BOB}>`], ['Call-ID', randomToken(12)], ['CSeq', '1 INVITE'], ['Max-Forwards', '70'],
        ['Contact', '<sip:alice@127.0.0.1:5999>'],
      ]);
      if (link) r.set(P_KS_LINK, link);
      return r;
    };
    const before = incomingAtBob();
    await local.sendStateless(forged(), { destination: at });
    await local.sendStateless(forged(toBob[0]!.get(P_KS_LINK)!), { destination: at });
    await new Promise((res) => setTimeout(res, 500));
    expect(incomingAtBob()).toBe(before);
  });

  it('after all that, alice still calls bob through the SBC', async () => {
    await call(2);
    expect(await bob.exit).toBe(0);
  });
});
