/**
 * Overload control at the SBC of `keyswitch up`, live (docs/sbc.md,
 * "Overload"): the SBC → softswitch leg runs over UDP (sbc.coreTransport)
 * through a relay the test can hold, and `overload.sbcMaxPending` is 1, so one REGISTER held on its
 * way to the core saturates the SBC. Then a new REGISTER and a new INVITE
 * from another source are answered 503 with Retry-After at once, while a
 * Digest REGISTER with Authorization (its challenge already paid for) is
 * still carried to the core and completes once the relay lets go, and a
 * retransmission of the held REGISTER is absorbed, not answered 503; an
 * in-dialog request (a To tag) passes the gate to the dialog checks. Once
 * the queue drains, new registrations are served again.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMessage, type SipResponse } from '../../src/sip/index.js';
import { startUp, type Up } from '../helpers/up.js';

const DOMAIN = 'lab.example';
const PW = (idc: string) => `pw of ${idc}`;
const PHONES = ['held@lab.example', 'paid@lab.example', 'late@lab.example'];

/** A UDP relay toward the softswitch that can hold what the SBC sends and let it go later. */
async function holdableRelay(to: number) {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const held: Array<{ msg: Buffer; port: number; address: string }> = [];
  let client: { port: number; address: string } | undefined;
  const relay = {
    port: sock.address().port,
    hold: false,
    held,
    release() {
      relay.hold = false;
      for (const h of held.splice(0)) sock.send(h.msg, h.port, h.address);
    },
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
  sock.on('message', (msg, rinfo) => {
    const fromServer = rinfo.port === to;
    if (!fromServer) client = { address: rinfo.address, port: rinfo.port };
    const dest = fromServer ? client : { address: '127.0.0.1', port: to };
    if (!dest) return;
    if (relay.hold && !fromServer) held.push({ msg, ...dest });
    else sock.send(msg, dest.port, dest.address);
  });
  return relay;
}

/** A phone on a raw UDP socket; every answer is kept, by branch. */
class Phone {
  readonly answers = new Map<string, SipResponse[]>();
  readonly callId = randomBytes(8).toString('hex');
  #cseq = 0;
  private constructor(readonly sock: Socket, readonly sbcPort: number, readonly aor: string) {
    sock.on('message', (b) => {
      const p = parseMessage(b, { datagram: true });
      if (!p.ok || !p.message.isResponse()) return;
      const res = p.message as SipResponse;
      const branch = String(res.topVia()?.params.branch);
      this.answers.set(branch, [...(this.answers.get(branch) ?? []), res]);
    });
  }
  static async open(sbcPort: number, aor: string): Promise<Phone> {
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    return new Phone(sock, sbcPort, aor);
  }
  /** Sends a request (a new branch unless one is given, to retransmit); returns the branch. */
  send(method: 'REGISTER' | 'INVITE' | 'BYE', o: { branch?: string; cseq?: number; headers?: string[]; toTag?: string } = {}): { branch: string; cseq: number } {
    const port = this.sock.address().port;
    const branch = o.branch ?? 'z9hG4bK' + randomBytes(8).toString('hex');
    const cseq = o.cseq ?? ++this.#cseq;
    const to = method === 'REGISTER' ? this.aor : `someone@${DOMAIN}`;
    const text = [
      `${method} sip:${method === 'REGISTER' ? DOMAIN : to} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:${this.aor}>;tag=${this.callId.slice(0, 8)}`,
      `To: <sip:${to}>${o.toTag ? `;tag=${o.toTag}` : ''}`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${cseq} ${method}`,
      `Contact: <sip:${this.aor.split('@')[0]}@127.0.0.1:${port}>`,
      ...(method === 'REGISTER' ? ['Expires: 600'] : []),
      ...(o.headers ?? []),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    this.sock.send(Buffer.from(text), this.sbcPort, '127.0.0.1');
    return { branch, cseq };
  }
  async final(branch: string, ms = 8000): Promise<SipResponse> {
    const until = Date.now() + ms;
    for (;;) {
      const f = this.answers.get(branch)?.find((r) => r.status >= 200);
      if (f) return f;
      if (Date.now() > until) throw new Error(`${this.aor}: no final answer on ${branch}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  close(): void {
    this.sock.close();
  }
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
function digest(res: SipResponse, username: string, password: string): string {
  const ch = res.auth('WWW-Authenticate').find((a) => a.scheme === 'Digest' && a.params.algorithm === 'MD5')!;
  const nc = '00000001';
  const cnonce = randomBytes(6).toString('hex');
  const uri = `sip:${DOMAIN}`;
  const response = md5(`${md5(`${username}:${ch.params.realm}:${password}`)}:${ch.params.nonce}:${nc}:${cnonce}:auth:${md5(`REGISTER:${uri}`)}`);
  return `Authorization: Digest username="${username}", realm="${ch.params.realm}", nonce="${ch.params.nonce}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=${nc}, cnonce="${cnonce}", opaque="${ch.params.opaque}"`;
}

describe('keyswitch up: the SBC sheds new work when saturated and finishes work in progress [sqlite]', () => {
  let up: Up;
  let relay: Awaited<ReturnType<typeof holdableRelay>>;
  const phones: Phone[] = [];

  beforeAll(async () => {
    up = await startUp({
      prefix: 'ks-overload-',
      terminals: PHONES.map((idc) => ({ idc, sipPassword: PW(idc) })),
      env: async (ports) => {
        relay = await holdableRelay(ports.ssSip!);
        return { KEYSWITCH_SBC_SOFTSWITCH: `127.0.0.1:${relay.port}`, KEYSWITCH_SBC_CORE_TRANSPORT: 'udp', KEYSWITCH_OVERLOAD_SBC_MAX_PENDING: '1', KEYSWITCH_OVERLOAD_SBC_LAG_MS: '0', KEYSWITCH_OVERLOAD_RETRY_AFTER_SECONDS: '7' };
      },
    });
    for (const idc of PHONES) phones.push(await Phone.open(up.ports.sbcSip!, idc));
  });
  afterAll(async () => {
    for (const p of phones) p.close();
    await up?.stop();
    await relay?.close();
  });

  it('answers new REGISTERs and INVITEs 503 Retry-After while one request is pending at the core; completes a Digest REGISTER with credentials; absorbs a retransmission', async () => {
    const [held, paid, late] = phones as [Phone, Phone, Phone];
    // paid's challenge, before the overload: the registration that already cost a round trip
    const c1 = paid.send('REGISTER');
    const challenge = await paid.final(c1.branch);
    expect(challenge.status).toBe(401);

    // one REGISTER held on its way to the core fills the queue (overload.sbcMaxPending 1)
    relay.hold = true;
    const h = held.send('REGISTER');
    for (let i = 0; relay.held.length === 0; i++) {
      if (i > 250) throw new Error('the SBC did not forward the REGISTER');
      await new Promise((r) => setTimeout(r, 20));
    }

    // new work from another source: refused at once, statelessly, with Retry-After
    const n = late.send('REGISTER');
    const refused = await late.final(n.branch, 3000);
    expect(refused.status).toBe(503);
    // overload.retryAfterSeconds to twice it, spread so that the refused do not come back together
    expect(Number(refused.get('Retry-After'))).toBeGreaterThanOrEqual(7);
    expect(Number(refused.get('Retry-After'))).toBeLessThanOrEqual(14);
    const inv = late.send('INVITE');
    const refusedInvite = await late.final(inv.branch, 3000);
    expect(refusedInvite.status).toBe(503);
    expect(Number(refusedInvite.get('Retry-After'))).toBeGreaterThanOrEqual(7);
    expect(Number(refusedInvite.get('Retry-After'))).toBeLessThanOrEqual(14);
    expect(refusedInvite.get('Retry-After')).not.toBe(refused.get('Retry-After'));
    // an in-dialog request (a To tag) is not new work: it passes the gate and is judged as such (this dialog
    // does not exist, so it is refused by the dialog checks), never shed with 503
    const bye = late.send('BYE', { toTag: 'a1b2c3' });
    const byeAnswer = await late.final(bye.branch, 3000);
    expect(byeAnswer.status).not.toBe(503);
    expect(byeAnswer.get('Retry-After')).toBeUndefined();

    // the held REGISTER retransmitted: absorbed by its transaction, not refused
    held.send('REGISTER', { branch: h.branch, cseq: h.cseq });
    // work in progress: the Digest answer to paid's challenge passes the gate and goes to the core
    const c2 = paid.send('REGISTER', { headers: [digest(challenge, paid.aor, PW(paid.aor))] });
    for (let i = 0; !relay.held.some((m) => m.msg.includes('Digest username')); i++) {
      if (i > 250) throw new Error('the SBC did not forward the REGISTER with credentials');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(held.answers.get(h.branch) ?? []).toEqual([]);

    relay.release();
    expect((await paid.final(c2.branch)).status).toBe(200);
    expect((await held.final(h.branch)).status).toBe(401);
    expect((held.answers.get(h.branch) ?? []).map((r) => r.status)).not.toContain(503);

    // the SBC counted what it refused, by kind (metrics.address)
    const text = await (await fetch(`http://127.0.0.1:${up.ports.metrics}/metrics`)).text();
    expect(text).toMatch(/^keyswitch_sbc_overload_rejected_total\{kind="new-registration"\} [1-9]/m);
    expect(text).toMatch(/^keyswitch_sbc_overload_rejected_total\{kind="new-dialog"\} [1-9]/m);
  });

  it('serves new registrations again once the queue has drained', async () => {
    const late = phones[2]!;
    // the refused share decays step by step (5 % per 100 ms): some new requests may still be refused for a few seconds
    for (let i = 0; ; i++) {
      const r = await late.final(late.send('REGISTER').branch, 3000);
      if (r.status === 401) break;
      expect(r.status).toBe(503);
      if (i > 100) throw new Error('still refused after the queue drained');
      await new Promise((res) => setTimeout(res, 100));
    }
  });
});
