/**
 * Issue 8 item 7 and the Digest nonce table of item 10, as an outsider sees
 * them against `keyswitch up`: unknown, disabled and locked identities must be
 * indistinguishable from a known one with a wrong key or password (SIP KS1,
 * SIP Digest, MGCP, H.248), no reason may reach the terminal, the Digest nonce
 * must not carry the server's clock in clear, and one Digest identity flooding
 * nonces must not keep another from registering.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeS6, encodeS1Authorization, encodeS7 } from '../../src/adapters/sip/terminal-ks1.js';
import { TerminalFlow } from '../../src/flow/terminal.js';
import { parseMgcp } from '../../src/mgcp/parse.js';
import { parseMessage, type SipResponse } from '../../src/sip/index.js';
import { registerH248Gateway } from '../../src/terminal/h248-gateway.js';
import { MgcpGateway } from '../../src/terminal/mgcp-gateway.js';
import { startUp, type Up } from '../helpers/up.js';
import { startUdpProxy } from '../h248/udp-proxy.js';

const DOMAIN = 'lab.example';
/** Per protocol: a known identity (wrong key), a disabled and a locked one (right key), and one nobody provisioned. */
const KINDS = ['known', 'disabled', 'locked', 'unknown'] as const;
type Kind = (typeof KINDS)[number];
const ids = (prefix: string): Record<Kind, string> => ({
  known: `${prefix}-known@${DOMAIN}`,
  disabled: `${prefix}-disabled@${DOMAIN}`,
  locked: `${prefix}-locked@${DOMAIN}`,
  unknown: `${prefix}-nobody@${DOMAIN}`,
});
const KS1 = ids('ks1');
const DIGEST = ids('dg');
const MGCP = ids('mgcp');
const H248 = ids('h248');
const PASSWORD = (idc: string) => `pw of ${idc}`;
const LOCK_AFTER = 3;
const MAX_NONCES = 30;
const NONCES_PER_IDENTITY = 4;

/** A SIP user agent on a raw UDP socket: what goes out is exactly what is written here. */
class RawUa {
  readonly #waiting = new Map<string, (r: SipResponse) => void>();
  #cseq = 0;
  readonly callId = randomBytes(8).toString('hex');
  private constructor(readonly sock: Socket, readonly sbcPort: number) {
    sock.on('message', (b) => {
      const p = parseMessage(b, { datagram: true });
      if (!p.ok || !p.message.isResponse()) return;
      const res = p.message as SipResponse;
      if (res.status < 200) return;
      this.#waiting.get(String(res.topVia()?.params.branch))?.(res);
    });
  }
  static async open(sbcPort: number): Promise<RawUa> {
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    return new RawUa(sock, sbcPort);
  }
  register(aor: string, headers: Array<[string, string]> = []): Promise<SipResponse> {
    const port = this.sock.address().port;
    const branch = 'z9hG4bK' + randomBytes(8).toString('hex');
    const text = [
      `REGISTER sip:${DOMAIN} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:${aor}>;tag=${this.callId.slice(0, 8)}`,
      `To: <sip:${aor}>`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${++this.#cseq} REGISTER`,
      `Contact: <sip:${aor.split('@')[0]}@127.0.0.1:${port}>`,
      'Expires: 600',
      ...headers.map(([k, v]) => `${k}: ${v}`),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer to REGISTER for ${aor}`)), 5000);
      this.#waiting.set(branch, (r) => {
        clearTimeout(t);
        this.#waiting.delete(branch);
        resolve(r);
      });
      this.sock.send(Buffer.from(text), this.sbcPort, '127.0.0.1');
    });
  }
  close(): void {
    this.sock.close();
  }
}

/** What an outsider can compare between two answers once per-request random values are left out. */
function sipShape(res: SipResponse) {
  return {
    status: res.status,
    reason: res.reason,
    headers: res.headers.map((h) => h.key),
    auth: res.auth('WWW-Authenticate').map((a) => [a.scheme, Object.keys(a.params), a.params.algorithm, a.params.qop, a.params.stale]),
    securityServer: res.getAll('Security-Server'),
  };
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
/** The Authorization answering `res`'s MD5 challenge; a later `count` reuses its nonce, as a phone does. */
function digestAnswer(res: SipResponse, username: string, password: string, count = 1): string {
  const ch = res.auth('WWW-Authenticate').find((a) => a.scheme === 'Digest' && a.params.algorithm === 'MD5')!;
  const nc = count.toString(16).padStart(8, '0');
  const cnonce = randomBytes(6).toString('hex');
  const uri = `sip:${DOMAIN}`;
  const response = md5(`${md5(`${username}:${ch.params.realm}:${password}`)}:${ch.params.nonce}:${nc}:${cnonce}:auth:${md5(`REGISTER:${uri}`)}`);
  return `Digest username="${username}", realm="${ch.params.realm}", nonce="${ch.params.nonce}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=${nc}, cnonce="${cnonce}", opaque="${ch.params.opaque}"`;
}

// Both AuC protocols: a refused identity's decoy must survive the AuC's own report binding on either wire.
describe.each(['radius', 'diameter'] as const)('no oracles against keyswitch up, AuC over %s [sqlite]', (aucProtocol) => {
  let up: Up;
  let p: Record<string, number>;
  let daemon: Up['daemon'];
  let keys: Record<string, string>;

  /**
   * The daemon's clock as this process can follow it (KS1 checks our TS against it): read from the API's Date
   * header, since under faketime each process's clock starts where it was started.
   */
  let offsetMs = 0;
  const clock = () => Date.now() + offsetMs;
  const key = (idc: string) => Buffer.from(keys[idc]!, 'hex');

  /** KS1 over SIP from a raw socket: s1, and the s7 its challenge leads to; the answers to both. */
  async function sipKs1(ua: RawUa, idc: string, kc: Buffer): Promise<SipResponse[]> {
    const flow = new TerminalFlow({ idc, kc, mechanisms: 'app-hmac;q=0.5', clock });
    const r1 = await ua.register(idc, [['Authorization', encodeS1Authorization(flow.start())]]);
    const s6 = decodeS6(r1, idc);
    if (!s6) return [r1];
    const s7 = flow.onChallenge(s6);
    if (!s7.ok) return [r1];
    const e = encodeS7(s7.value);
    return [r1, await ua.register(idc, [['Authorization', e.authorization], ['Security-Client', e.securityClient]])];
  }

  /** One MGCP gateway registration: its outcome and what the SBC sent it, without per-message random values. */
  async function mgcp(idc: string, kc: Buffer) {
    const packets: string[] = [];
    const gw = await MgcpGateway.open({
      idc, kc, clock, sbc: { host: '127.0.0.1', port: p.sbcMgcp }, listen: { host: '127.0.0.1', port: 0 }, timeoutMs: 5000,
      onPacket: (dir, data) => {
        if (dir !== 'in') return;
        const m = parseMgcp(data);
        if (!m.ok) return;
        for (const x of m.messages) {
          if (x.kind === 'response' && x.code < 200) continue; // provisional: sent only when the core is slow (timing, not content)
          const names = x.params.map((q) => (q.key === 'x-ks-result' ? `${q.name}=${q.value}` : q.name)).join(',');
          packets.push(x.kind === 'command' ? `${x.verb} ${names}` : `${x.code} ${x.text ?? ''} ${names}`);
        }
      },
    });
    const result = await gw.register();
    await gw.close();
    // which messages, not how many: a retransmission or the challenge after the last refusal is timing
    return { result, packets: [...new Set(packets)].sort() };
  }

  /** One H.248 gateway registration through a capturing UDP proxy, likewise. */
  async function h248(idc: string, kc: Buffer) {
    const proxy = await startUdpProxy({ host: '127.0.0.1', port: p.sbcH248 });
    try {
      const result = await registerH248Gateway({ idc, kc, clock, sbc: { host: '127.0.0.1', port: proxy.port }, local: { host: '127.0.0.1' }, timeoutMs: 8000 });
      const down = proxy.captured
        // a TransactionPending is sent only when the other leg is slow (timing, not content)
        .filter((c) => c.dir === 'down' && !/\bPN=\d+/.test(c.payload.toString('utf8')))
        .map((c) =>
          c.payload
            .toString('utf8')
            .split(idc).join('IDC')
            .replace(/\[127\.0\.0\.1\]:\d+/g, 'MID')
            .replace(/=("[^"]*"|[A-Za-z0-9_+/.:-]+)/g, (m, v: string) => (/^\d{3}$/.test(v) ? m : '=V'))
            .replace(/\b\d+\b/g, 'N'),
        );
      return { result, down: [...new Set(down)].sort() };
    } finally {
      proxy.close();
    }
  }

  beforeAll(async () => {
    let token = '';
    up = await startUp({
      terminals: [
        ...[KS1, DIGEST, MGCP, H248].flatMap((set) => (['known', 'disabled', 'locked'] as const).map((kind) => ({ idc: set[kind], sipPassword: PASSWORD(set[kind]) }))),
        ...[`flood@${DOMAIN}`, `victim@${DOMAIN}`].map((idc) => ({ idc, sipPassword: PASSWORD(idc) })),
      ],
      prefix: 'ks-oracles-',
      env: {
        KEYSWITCH_AUC_PROTOCOL: aucProtocol,
        // the core's answers compared from one socket that fails on purpose: the intrusion detection (docs/ids.md) would block it
        KEYSWITCH_IDS: 'off',
        KEYSWITCH_DIGEST_ALGORITHMS: 'MD5,SHA-256',
        KEYSWITCH_LOCKOUT_THRESHOLD: String(LOCK_AFTER),
        KEYSWITCH_LOCKOUT_BASE_SECONDS: '900',
        KEYSWITCH_DIGEST_MAX_NONCES: String(MAX_NONCES),
        KEYSWITCH_DIGEST_NONCES_PER_IDENTITY: String(NONCES_PER_IDENTITY),
      },
      before: (run) => {
        token = run(['token', 'create', '--role', 'admin']).stdout.trim();
      },
    });
    ({ keys, daemon, ports: p } = up);
    for (const set of [KS1, DIGEST, MGCP, H248]) {
      const res = await fetch(`http://127.0.0.1:${p.api}/v1/terminals/${encodeURIComponent(set.disabled)}/disable`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      offsetMs = Date.parse(res.headers.get('date')!) + 500 - Date.now();
    }
    // Lock the "locked" identities the way an attacker would: wrong guesses over the wire.
    const ua = await RawUa.open(p.sbcSip);
    for (let i = 0; i < LOCK_AFTER; i++) {
      expect((await sipKs1(ua, KS1.locked, randomBytes(32))).map((r) => r.status)).toEqual([401, 401]);
      expect((await mgcp(MGCP.locked, randomBytes(32))).result).toMatchObject({ ok: false, kind: 'auth-failed' });
      expect((await h248(H248.locked, randomBytes(32))).result).toMatchObject({ ok: false, kind: 'auth-failed' });
      const c = await ua.register(DIGEST.locked);
      await ua.register(DIGEST.locked, [['Authorization', digestAnswer(c, DIGEST.locked, 'guess' + i)]]);
    }
    ua.close();
  }, 180_000);
  afterAll(async () => {
    await up?.stop();
  });

  it('the setup holds: the right key opens a known identity, and no longer a locked or disabled one', async () => {
    const ua = await RawUa.open(p.sbcSip);
    try {
      expect((await sipKs1(ua, KS1.known, key(KS1.known))).map((r) => r.status)).toEqual([401, 200]);
      expect((await mgcp(MGCP.known, key(MGCP.known))).result).toMatchObject({ ok: true });
      expect((await h248(H248.known, key(H248.known))).result).toMatchObject({ ok: true });
      for (const set of [KS1, MGCP, H248]) {
        for (const idc of [set.locked, set.disabled]) {
          if (set === KS1) expect((await sipKs1(ua, idc, key(idc))).map((r) => r.status)).toEqual([401, 401]);
          else expect((await (set === MGCP ? mgcp : h248)(idc, key(idc))).result).toMatchObject({ ok: false, kind: 'auth-failed' });
        }
      }
    } finally {
      ua.close();
    }
  }, 90_000);

  it('SIP KS1: s1 and a guessed s7 get the same answers for a known, disabled, locked and unknown IDc', async () => {
    const ua = await RawUa.open(p.sbcSip);
    try {
      const seen: Record<string, unknown> = {};
      for (const kind of KINDS) {
        const idc = KS1[kind];
        // a guessed key for the known and the unknown identity; the right one for the disabled and the locked
        const answers = await sipKs1(ua, idc, kind === 'disabled' || kind === 'locked' ? key(idc) : randomBytes(32));
        for (const a of answers) expect(a.get('Warning'), `${kind}: ${a.get('Warning')}`).toBeUndefined();
        seen[kind] = answers.map(sipShape);
      }
      expect((seen.known as Array<{ status: number }>).map((s) => s.status)).toEqual([401, 401]);
      for (const kind of KINDS) expect(seen[kind], kind).toEqual(seen.known);
    } finally {
      ua.close();
    }
  });

  it('SIP Digest: a wrong password for a known identity looks like any password for a disabled, locked or unknown one', async () => {
    const ua = await RawUa.open(p.sbcSip);
    try {
      const seen: Record<string, unknown> = {};
      for (const kind of KINDS) {
        const idc = DIGEST[kind];
        const c = await ua.register(idc);
        const password = kind === 'known' ? 'a wrong guess' : PASSWORD(idc);
        const res = await ua.register(idc, [['Authorization', digestAnswer(c, idc, password)]]);
        for (const a of [c, res]) expect(a.get('Warning'), `${kind}: ${a.get('Warning')}`).toBeUndefined();
        seen[kind] = [sipShape(c), sipShape(res)];
      }
      expect((seen.known as Array<{ status: number }>).map((s) => s.status)).toEqual([401, 401]);
      for (const kind of KINDS) expect(seen[kind], kind).toEqual(seen.known);
    } finally {
      ua.close();
    }
  });

  it('no core Warning reaches the terminal: a Digest answer the core refuses as malformed comes back without one', async () => {
    const ua = await RawUa.open(p.sbcSip);
    try {
      const c = await ua.register(DIGEST.known);
      const noUri = digestAnswer(c, DIGEST.known, 'x').replace(/uri="[^"]*", /, '');
      const res = await ua.register(DIGEST.known, [['Authorization', noUri]]);
      expect(res.status).toBe(400);
      expect(res.get('Warning')).toBeUndefined();
    } finally {
      ua.close();
    }
  });

  it('the reasons go to the softswitch log at warn level instead', () => {
    const out = daemon.output();
    for (const reason of ['unknown-terminal', 'disabled', 'locked']) expect(out).toMatch(new RegExp(`"level":40[^\\n]*"reason":"${reason}"`));
  });

  it('MGCP: a known gateway with a wrong key, and disabled, locked and unknown ones, see the same exchange', async () => {
    const seen: Record<string, unknown> = {};
    for (const kind of KINDS) {
      const idc = MGCP[kind];
      seen[kind] = await mgcp(idc, kind === 'disabled' || kind === 'locked' ? key(idc) : randomBytes(32));
    }
    expect(seen.known).toMatchObject({ result: { ok: false, kind: 'auth-failed' } });
    for (const kind of KINDS) expect(seen[kind], kind).toEqual(seen.known);
  });

  it('H.248: a known gateway with a wrong key, and disabled, locked and unknown ones, see the same exchange', async () => {
    const seen: Record<string, unknown> = {};
    for (const kind of KINDS) {
      const idc = H248[kind];
      seen[kind] = await h248(idc, kind === 'disabled' || kind === 'locked' ? key(idc) : randomBytes(32));
    }
    expect(seen.known).toMatchObject({ result: { ok: false, kind: 'auth-failed' } });
    for (const kind of KINDS) expect(seen[kind], kind).toEqual(seen.known);
  });

  it('the Digest nonce does not carry the server clock in clear', async () => {
    const ua = await RawUa.open(p.sbcSip);
    try {
      const t0 = Date.now();
      const nonces = [];
      for (let i = 0; i < 2; i++) {
        const c = await ua.register(DIGEST.unknown);
        nonces.push(Buffer.from(c.auth('WWW-Authenticate')[0]!.params.nonce!, 'base64url'));
      }
      const t1 = Date.now();
      expect(nonces[0]!.equals(nonces[1]!)).toBe(false);
      for (const n of nonces) {
        // no 8-byte window holds the time in ms, no 4-byte one the time in seconds, either byte order
        for (let i = 0; i + 8 <= n.length; i++) {
          for (const v of [n.readBigUInt64BE(i), n.readBigUInt64LE(i)]) expect(v >= BigInt(t0 - 5000) && v <= BigInt(t1 + 5000)).toBe(false);
        }
        for (let i = 0; i + 4 <= n.length; i++) {
          for (const v of [n.readUInt32BE(i), n.readUInt32LE(i)]) expect(v >= Math.floor(t0 / 1000) - 5 && v <= Math.ceil(t1 / 1000) + 5).toBe(false);
        }
        expect(n.toString('latin1')).not.toContain(String(Math.floor(t0 / 1000)).slice(0, 6));
      }
      // two nonces issued within the same second share no time prefix
      let common = 0;
      while (common < nonces[0]!.length && nonces[0]![common] === nonces[1]![common]) common++;
      expect(common).toBeLessThan(4);
    } finally {
      ua.close();
    }
  });

  it('one Digest identity flooding nonces keeps only its own few: its oldest is refused as stale, and another phone keeps its nonce', async () => {
    const attacker = await RawUa.open(p.sbcSip);
    const phone = await RawUa.open(p.sbcSip);
    const flood = `flood@${DOMAIN}`;
    const victim = `victim@${DOMAIN}`;
    try {
      const vc = await phone.register(victim);
      expect((await phone.register(victim, [['Authorization', digestAnswer(vc, victim, PASSWORD(victim))]])).status).toBe(200);
      // the flooder holds a real account and uses a fresh nonce for every REGISTER, well past the table's bound
      const used: SipResponse[] = [];
      for (let i = 0; i < MAX_NONCES + 10; i++) {
        const c = await attacker.register(flood);
        expect((await attacker.register(flood, [['Authorization', digestAnswer(c, flood, PASSWORD(flood))]])).status).toBe(200);
        used.push(c);
      }
      // the flooder's nonces beyond its bound were forgotten: the one just past it comes back stale, the oldest kept still works
      const beyond = await attacker.register(flood, [['Authorization', digestAnswer(used.at(-NONCES_PER_IDENTITY - 1)!, flood, PASSWORD(flood), 2)]]);
      expect([beyond.status, beyond.auth('WWW-Authenticate')[0]?.params.stale]).toEqual([401, 'true']);
      const kept = await attacker.register(flood, [['Authorization', digestAnswer(used.at(-NONCES_PER_IDENTITY)!, flood, PASSWORD(flood), 2)]]);
      expect(kept.status).toBe(200);
      // the phone that registered before the flood re-registers on its nonce, without a new challenge
      expect((await phone.register(victim, [['Authorization', digestAnswer(vc, victim, PASSWORD(victim), 2)]])).status).toBe(200);
      const c = await phone.register(victim);
      expect(c.status).toBe(401);
      expect((await phone.register(victim, [['Authorization', digestAnswer(c, victim, PASSWORD(victim))]])).status).toBe(200);
    } finally {
      attacker.close();
      phone.close();
    }
  });
});
