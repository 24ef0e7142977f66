/**
 * Two SBC instances of one pool in front of one core, sharing Redis
 * (docs/scale-out.md, "SBC state in Redis"): a terminal registered through A
 * is served by B, app-hmac continues without replays across instances, the
 * record in Redis holds no key in clear, and Redis down means 503.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { signSipMessage, verifySipMessage } from '../../src/adapters/sip/sbc-app-hmac.js';
import { KeyVault } from '../../src/crypto/vault.js';
import { createRequest, newBranch, serialize, type SipResponse } from '../../src/sip/index.js';
import { tcpExchange } from '../helpers/sip-tcp.js';
import { startSbc, type RunningSbc } from '../../src/sbc/run.js';
import { SessionTable } from '../../src/sbc/sessions.js';
import { connectRedis, type SharedRedis } from '../../src/store/redis/index.js';
import { RedisSbcSessions } from '../../src/store/redis/sbc-sessions.js';
import { RedisSbcState } from '../../src/store/redis/sbc-state.js';
import { SipTerminal } from '../../src/terminal/sip-terminal.js';
import { newCallId, newTag } from '../../src/terminal/sip-uac.js';
import { describeRedis, startRedis, type TestRedis } from '../helpers/redis.js';
import { FAST, IDSP, startLab, type Lab } from './setup.js';

interface Instance {
  sbc: RunningSbc;
  redis: SharedRedis;
  shared: RedisSbcSessions;
  sessions: SessionTable;
}

describeRedis('SBC registrations on Redis: two instances', () => {
  let server: TestRedis;
  let lab: Lab; // instance A and the fake core
  let a: Instance;
  let b: Instance;
  let raw: SharedRedis;
  const vault = new KeyVault(randomBytes(32));
  const closers: Array<() => Promise<void>> = [];

  async function shared(): Promise<Omit<Instance, 'sbc'>> {
    const redis = connectRedis({ url: server.url, keyPrefix: 'kst:', commandTimeoutMs: 300 });
    expect(await redis.ready(5000)).toBe(true);
    const sh = new RedisSbcSessions(redis, vault, IDSP);
    const sessions = new SessionTable();
    sessions.share(sh);
    closers.push(async () => {
      await sh.close();
      await redis.close();
    });
    return { redis, shared: sh, sessions };
  }

  beforeAll(async () => {
    server = await startRedis();
    raw = connectRedis({ url: server.url, keyPrefix: '' });
    expect(await raw.ready(5000)).toBe(true);
    const sa = await shared();
    lab = await startLab({ sbc: { sessions: sa.sessions, replayState: new RedisSbcState(sa.redis, IDSP), signing: { enabled: false } } });
    a = { ...sa, sbc: lab.sbc };
    const sb = await shared();
    const sbcB = await startSbc({
      idsp: IDSP, ksp: lab.ksp,
      untrusted: { host: '127.0.0.1', udpPort: 0, tcpPort: 0, tlsPort: 0, tlsPskPort: 0 },
      softswitch: { host: '127.0.0.1', port: lab.core.port, transport: 'udp' },
      tls: { dataDir: lab.dir }, timers: FAST,
      sessions: sb.sessions, replayState: new RedisSbcState(sb.redis, IDSP), signing: { enabled: false },
    });
    b = { ...sb, sbc: sbcB };
  });
  afterAll(async () => {
    await b?.sbc.close();
    await lab?.close();
    for (const c of closers) await c();
    await raw?.close();
    await server?.close();
  });

  async function registered(idc: string, at: Instance): Promise<SipTerminal> {
    const kc = lab.provision(idc);
    const t = new SipTerminal(lab.terminal(idc, kc, { mechs: 'app-hmac;q=0.5', transport: 'tcp', sbc: { host: '127.0.0.1', port: at.sbc.ports.tcp! } }));
    await t.registerKs1();
    await t.applyMechanism();
    return t;
  }

  /** Raw bytes over a fresh TCP connection to an instance; its first answer. */
  const exchange = (at: Instance, bytes: Buffer): Promise<SipResponse> => tcpExchange(at.sbc.ports.tcp!, bytes);

  function options(idc: string): ReturnType<typeof createRequest> {
    return createRequest('OPTIONS', 'sip:127.0.0.1', [
      ['Via', `SIP/2.0/TCP 127.0.0.1:5060;branch=${newBranch()}`],
      ['Max-Forwards', '70'],
      ['From', `<sip:${idc}>;tag=${newTag()}`],
      ['To', `<sip:${idc}>`],
      ['Call-ID', newCallId()],
      ['CSeq', '1 OPTIONS'],
    ]);
  }

  function signed(t: SipTerminal, idc: string): Buffer {
    const req = options(idc);
    signSipMessage(req, t.signer!);
    return serialize(req);
  }

  it('a terminal registered through A is served by B: app-hmac continues both ways, and a message B accepted is refused at A and at B', async () => {
    const idc = 'mover@lab.example';
    const t = await registered(idc, a);
    try {
      expect(a.sessions.get(idc)).toBeDefined();
      expect(b.sessions.get(idc)).toBeUndefined();
      // Through A first, then B (no copy there yet: it is read from Redis).
      const m1 = signed(t, idc);
      expect((await exchange(a, m1)).status).toBe(200);
      const m2 = signed(t, idc);
      const atB = await exchange(b, m2);
      expect(atB.status).toBe(200);
      // B signs from its own sequence block: the terminal's window accepts it.
      expect(verifySipMessage(atB, t.verifier!)).toBe('ok');
      expect(b.sessions.get(idc)).toBeDefined();
      // The attacker (another connection) replays what each instance accepted, to both.
      for (const m of [m1, m2]) {
        for (const at of [a, b]) {
          const r = await exchange(at, m);
          expect(r.status).toBe(403);
          expect(r.get('Warning')).toContain('KS-HMAC replayed');
        }
      }
      // The terminal goes on through either, and accepts the answers of both: an instance that
      // signs after the other did moves to a fresh block above it.
      for (const at of [a, b, a, a, b]) {
        const r = await exchange(at, signed(t, idc));
        expect(r.status).toBe(200);
        expect(verifySipMessage(r, t.verifier!)).toBe('ok');
      }
    } finally {
      await t.close();
    }
  });

  it('a tls-psk terminal registered through A opens its TLS-PSK connection at B with the same Kc,sp', async () => {
    const idc = 'psk-mover@lab.example';
    const kc = lab.provision(idc);
    // Registered through A; its secured connection goes to B (the pool's address sent it there).
    const t = new SipTerminal(lab.terminal(idc, kc, { mechs: 'tls-psk;q=0.5', transport: 'tcp', sbc: { host: '127.0.0.1', port: a.sbc.ports.tcp!, tlsPskPort: b.sbc.ports.tlsPsk! } }));
    try {
      await t.registerKs1();
      // B read the new tls-psk registration when A announced it (the TLS stack cannot wait for Redis).
      await vi.waitFor(() => expect(b.sessions.get(idc)?.session.keys.sessionKey.equals(a.sessions.get(idc)!.session.keys.sessionKey)).toBe(true));
      expect((await t.applyMechanism()).mechanism).toBe('tls-psk');
      expect((await t.options()).status).toBe(200);
      expect((await t.refresh()).status).toBe(200);
    } finally {
      await t.close();
    }
    // An instance without a copy (started later, or its copy dropped): the first handshake starts the lookup, the retry finds it.
    b.sessions.forget(idc);
    const t2 = new SipTerminal(lab.terminal(idc, kc, { mechs: 'tls-psk;q=0.5', transport: 'tcp', sbc: { host: '127.0.0.1', port: a.sbc.ports.tcp!, tlsPskPort: b.sbc.ports.tlsPsk! } }));
    try {
      await t2.registerKs1();
      await vi.waitFor(() => expect(b.sessions.get(idc)).toBeDefined());
      b.sessions.forget(idc);
      // The connection opens with the first request: its handshake finds no copy at B and starts the lookup.
      const first = await t2.applyMechanism().then(() => t2.options()).then((r) => r.status, () => 'refused');
      await vi.waitFor(() => expect(b.sessions.get(idc)).toBeDefined());
      if (first === 'refused') await t2.applyMechanism();
      expect((await t2.options()).status).toBe(200);
    } finally {
      await t2.close();
    }
  });

  it('the record in Redis holds the session key sealed, never in clear', async () => {
    const idc = 'sealed@lab.example';
    const t = await registered(idc, a);
    try {
      const rec = a.sessions.get(idc)!;
      const key = rec.session.keys.sessionKey;
      const hash = await raw.run((r) => r.hgetallBuffer(`kst:sbc:reg:{${IDSP}|${idc}}`));
      expect(Object.keys(hash).sort()).toEqual(['a', 'dn', 'e', 'k', 'm', 'p', 't', 'up']);
      const all = Buffer.concat(Object.values(hash));
      for (const form of [key, Buffer.from(key.toString('hex')), Buffer.from(key.toString('base64')), Buffer.from(key.toString('base64url')), rec.session.keys.kAppHmac]) {
        expect(all.includes(form)).toBe(false);
      }
      // Its TTL is the registration's.
      const ttl = await raw.run((r) => r.pttl(`kst:sbc:reg:{${IDSP}|${idc}}`));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(rec.expiresAt - Date.now() + 1000);
      // Under another master key it does not open: B with a wrong vault serves nothing.
      const other = new RedisSbcSessions(a.redis, new KeyVault(randomBytes(32)), IDSP);
      expect(await other.get(idc, Date.now())).toBeUndefined();
    } finally {
      await t.close();
    }
  });

  it('de-registration at A removes the registration everywhere: B refuses the terminal afterwards', async () => {
    const idc = 'leaver@lab.example';
    const t = await registered(idc, a);
    try {
      expect((await exchange(b, signed(t, idc))).status).toBe(200); // B holds a copy now
      expect(a.sessions.remove(idc)).toBe(true);
      await vi.waitFor(async () => expect(await raw.run((r) => r.exists(`kst:sbc:reg:{${IDSP}|${idc}}`))).toBe(0));
      await vi.waitFor(() => expect(b.sessions.get(idc)).toBeUndefined()); // told on the channel
      const r = await exchange(b, signed(t, idc));
      // Unknown here now: the From is no registered terminal, so the request goes on unprotected only if
      // the core accepts it; what matters is that B no longer holds the session key.
      expect(b.sessions.get(idc)).toBeUndefined();
      expect(r.status).not.toBe(503);
    } finally {
      await t.close();
    }
  });

  it('Redis down: REGISTER and app-hmac requests get 503 with Retry-After, never accepted; service returns with Redis', async () => {
    const idc = 'outage@lab.example';
    const t = await registered(idc, a);
    try {
      await server.kill();
      try {
        const r = await exchange(b, signed(t, idc));
        expect(r.status).toBe(503);
        expect(r.get('Retry-After')).toBe('5');
        const ra = await exchange(a, signed(t, idc));
        expect(ra.status).toBe(503);
        const kc = lab.provision('newcomer@lab.example');
        const n = new SipTerminal(lab.terminal('newcomer@lab.example', kc, { mechs: 'app-hmac;q=0.5', transport: 'tcp', sbc: { host: '127.0.0.1', port: b.sbc.ports.tcp! } }));
        const err = await n.registerKs1().then(() => undefined, (e: unknown) => e as { status?: number });
        await n.close();
        expect(err?.status).toBe(503);
      } finally {
        await server.start();
      }
      expect(await a.redis.ready(10_000)).toBe(true);
      expect(await b.redis.ready(10_000)).toBe(true);
      // Redis came back empty (no persistence in the test): the terminal registers again, through B.
      const t2 = await registered('after@lab.example', b);
      expect((await exchange(a, signed(t2, 'after@lab.example'))).status).toBe(200);
      await t2.close();
    } finally {
      await t.close();
    }
  });
});
