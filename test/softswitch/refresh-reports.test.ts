/**
 * Refresh reports (docs/auc.md, "Refresh reports"): a REGISTER that only
 * moves the expiry of a binding the softswitch reported is not reported to
 * the AuC again until the AuC's recorded expiry lags by more than the bound;
 * a success while the AuC holds failures for the identity is always
 * reported (it clears them); anything else about the binding that changed
 * is reported. Over RADIUS the AuC says whether failures are pending, and a
 * Digest grant is still single-use.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Auc } from '../../src/auc/auc.js';
import { DiameterAucClient } from '../../src/adapters/diameter/auc-client.js';
import { startDiameterAucServer } from '../../src/adapters/diameter/auc-server.js';
import { RadiusAucClient } from '../../src/adapters/radius/auc-client.js';
import { startRadiusAucServer, type RadiusAucServer } from '../../src/adapters/radius/auc-server.js';
import { AucUnavailableError } from '../../src/contracts/auc.js';
import { formatAuth, type SipResponse } from '../../src/sip/index.js';
import { startSoftswitch, type SoftswitchHandle } from '../../src/softswitch/run.js';
import { RefreshReports } from '../../src/softswitch/refresh-reports.js';
import type { Store } from '../../src/store/index.js';
import type { SipBinding } from '../../src/store/bindings.js';
import { describeEngines } from '../helpers/engines.js';
import { Registration, SwitchableAuc, Ua } from './harness.js';

const PHONE = '2000@127.0.0.1';
const PASSWORD = 'pw 2000';
const LAG_SEC = 60;

function md5(s: string): string {
  return createHash('md5').update(s).digest('hex');
}

function answer(res: SipResponse, password: string): string {
  const ch = res.auth('WWW-Authenticate').find((a) => a.scheme === 'Digest' && (a.params.algorithm ?? 'MD5') === 'MD5');
  if (!ch) throw new Error('no MD5 challenge');
  const cnonce = randomBytes(6).toString('hex');
  const uri = 'sip:127.0.0.1';
  const response = md5(`${md5(`2000:${ch.params.realm}:${password}`)}:${ch.params.nonce}:00000001:${cnonce}:auth:${md5(`REGISTER:${uri}`)}`);
  return formatAuth('Digest', { username: '2000', realm: ch.params.realm!, nonce: ch.params.nonce!, uri, response, algorithm: 'MD5', qop: 'auth', nc: '00000001', cnonce, opaque: ch.params.opaque! }, ['algorithm', 'qop', 'nc']);
}

describeEngines('softswitch: refreshes of an unchanged binding and the AuC', (ctx) => {
  let t = 1_900_000_000_000;
  let store: Store;
  let auc: SwitchableAuc;
  let ss: SoftswitchHandle;
  let ua: Ua;
  let failNextReport = false;
  beforeAll(async () => {
    store = await ctx.open({ now: () => t });
    await store.terminals.create(PHONE, randomBytes(32), PASSWORD);
    auc = new SwitchableAuc(new Auc(store, { challengeTtlSeconds: 30, lockout: { threshold: 5, windowSeconds: 3600, baseSeconds: 30, maxSeconds: 300 } }));
    const registered = auc.registered;
    auc.registered = (r) => {
      if (!failNextReport) return registered(r);
      failNextReport = false;
      return Promise.reject(new AucUnavailableError());
    };
    ss = await startSoftswitch({ sip: { host: '127.0.0.1', udpPort: 0 }, trustedSbcs: [], realm: 'lab.example', aucTimeoutMs: 1000, reportLagSec: LAG_SEC, auc, store });
    ua = await Ua.udp();
  });
  afterAll(async () => {
    await ua.close();
    await ss.close();
    await store.close();
    await ctx.cleanup();
  });

  /** One sipp-like registration: a new Call-ID, REGISTER, 401, REGISTER with Digest. */
  async function register(o: { password?: string; contact?: string; expires?: number } = {}): Promise<SipResponse> {
    const r = new Registration(ua, ss.ports.udp!, PHONE);
    const opts = { uri: 'sip:127.0.0.1', contacts: [o.contact ?? '<sip:2000@192.0.2.50:5060>'], expires: o.expires ?? 3600 };
    const c = await r.send(opts);
    expect(c.status).toBe(401);
    return r.send({ ...opts, headers: [['Authorization', answer(c, o.password ?? PASSWORD)]] });
  }
  const reports = () => auc.of('registered').length;
  const recorded = async () => (await store.registrations.forTerminal(PHONE)).map((x) => x.expiresAt);

  it('reports a new binding, not a refresh that only moves its expiry, and again once the record lags by more than the bound', async () => {
    expect((await register()).status).toBe(200);
    expect(reports()).toBe(1);
    expect(await recorded()).toEqual([t + 3600_000]);

    t += 10_000;
    expect((await register()).status).toBe(200);
    expect(reports()).toBe(1);
    expect(ss.stats().register.refreshesNotReported).toBe(1);
    expect((await store.bindings.current(PHONE)).map((b) => b.expiresAt)).toEqual([t + 3600_000]);
    expect(await recorded()).toEqual([t - 10_000 + 3600_000]);
    // counted as a Digest registration all the same
    expect(await ss.metrics.registry.render()).toMatch(/keyswitch_softswitch_registrations_total\{protocol="sip",auth="digest"\} 2\b/);

    t += (LAG_SEC - 10) * 1000;
    expect((await register()).status).toBe(200);
    expect(reports()).toBe(1);

    t += 1000; // now 61 s behind
    expect((await register()).status).toBe(200);
    expect(reports()).toBe(2);
    expect(await recorded()).toEqual([t + 3600_000]);
  });

  it('reports a refresh that changes the contact or shortens the expiry', async () => {
    const before = reports();
    t += 1000;
    expect((await register({ expires: 600 })).status).toBe(200);
    expect(reports()).toBe(before + 1);
    expect(await recorded()).toEqual([t + 600_000]);
    t += 1000;
    expect((await register({ contact: '<sip:2000@192.0.2.51:5060>', expires: 600 })).status).toBe(200);
    expect(reports()).toBe(before + 2);
    expect((await store.registrations.forTerminal(PHONE)).map((x) => x.contact).sort()).toEqual(['sip:2000@192.0.2.50:5060', 'sip:2000@192.0.2.51:5060']);
  });

  it('reports a success while the AuC holds failures for the identity, and so clears them', async () => {
    t += 1000;
    expect((await register({ expires: 600 })).status).toBe(200);
    const before = reports();
    t += 1000;
    expect((await register({ password: 'wrong', expires: 600 })).status).toBe(401);
    expect((await store.failures.get(PHONE))?.count).toBe(1);
    t += 1000;
    expect((await register({ expires: 600 })).status).toBe(200);
    expect(reports()).toBe(before + 1);
    expect(await store.failures.get(PHONE)).toBeUndefined();
    // nothing left to clear: the next refresh is not reported
    t += 1000;
    expect((await register({ expires: 600 })).status).toBe(200);
    expect(reports()).toBe(before + 1);
  });

  it('reports a binding removed and added again, by the terminal or by an operator, within the bound', async () => {
    t += 1000;
    expect((await register({ expires: 600 })).status).toBe(200);
    const before = reports();
    t += 1000;
    expect((await register({ expires: 0 })).status).toBe(200);
    expect(await store.registrations.forTerminal(PHONE)).toHaveLength(1); // the .51 contact
    t += 1000;
    expect((await register({ expires: 600 })).status).toBe(200);
    expect(reports()).toBe(before + 1);
    // the operator removes the AuC's records and the bindings (Operations.deregister does both)
    await store.registrations.removeWhere(PHONE);
    await store.bindings.removeAll(PHONE);
    t += 1000;
    expect((await register({ expires: 600 })).status).toBe(200);
    expect(reports()).toBe(before + 2);
    expect(await store.registrations.forTerminal(PHONE)).toHaveLength(1);
  });

  it('reports the next refresh after a report that failed', async () => {
    t += 1000;
    expect((await register({ expires: 600 })).status).toBe(200);
    const failures = ss.stats().register.reportFailures;
    failNextReport = true;
    t += 1000;
    expect((await register({ expires: 300 })).status).toBe(200); // shortened: reported, and the report fails
    expect(ss.stats().register.reportFailures).toBe(failures + 1);
    const before = reports();
    t += 1000;
    expect((await register({ expires: 300 })).status).toBe(200);
    expect(reports()).toBe(before + 1);
    expect((await store.registrations.forTerminal(PHONE)).find((x) => x.contact === 'sip:2000@192.0.2.50:5060')?.expiresAt).toBe(t + 300_000);
  });
});

describe('RefreshReports', () => {
  const b = (o: Partial<SipBinding> = {}): SipBinding => ({ aor: 'a@x', contact: 'sip:a@192.0.2.1', q: 1, expiresAt: 3_600_000, callId: 'c1', cseq: 1, source: 'udp:127.0.0.1:5060', idsp: '', mechanism: '', instance: '', createdAt: 0, updatedAt: 0, ...o });
  const rep = { idsp: 'ss', ipc: '192.0.2.1', mechanism: '' };

  it('spares only a refresh of the binding it last wrote, with the same report, lagging within the bound and half the remaining life', () => {
    const r = new RefreshReports(60_000);
    const first = b();
    expect(r.spare(first, [], rep, 0)).toBe(false);
    r.reported(first, rep);
    const next = b({ callId: 'c2', expiresAt: 3_610_000 });
    expect(r.spare(next, [first], rep, 10_000)).toBe(true);
    expect(r.spare(next, [first], { ...rep, ipc: '192.0.2.9' }, 10_000)).toBe(false);
    expect(r.spare(next, [first], { ...rep, mechanism: 'app-hmac' }, 10_000)).toBe(false);
    expect(r.spare(next, [first], { ...rep, idsp: 'sbc1' }, 10_000)).toBe(false);
    expect(r.spare(next, [b({ callId: 'other' })], rep, 10_000)).toBe(false); // someone else wrote the binding meanwhile
    expect(r.spare(next, [], rep, 10_000)).toBe(false); // it was gone
    expect(r.spare(b({ callId: 'c2', expiresAt: 3_661_000 }), [first], rep, 61_000)).toBe(false); // 61 s behind
    expect(r.spare(b({ callId: 'c2', expiresAt: 3_000_000 }), [first], rep, 10_000)).toBe(false); // shortened
    // a short registration: half its remaining life bounds the lag before the bound does
    const short = b({ expiresAt: 80_000 });
    r.reported(short, rep);
    expect(r.spare(b({ callId: 'c3', expiresAt: 110_000 }), [short], rep, 70_000)).toBe(false);
    expect(r.spare(b({ callId: 'c3', expiresAt: 100_000 }), [short], rep, 20_000)).toBe(true);
    r.spared(b({ callId: 'c3', expiresAt: 100_000 }));
    expect(r.spare(b({ callId: 'c4', expiresAt: 105_000 }), [b({ callId: 'c3', expiresAt: 100_000 })], rep, 25_000)).toBe(true);
    r.forget('a@x', 'sip:a@192.0.2.1');
    expect(r.spare(b({ callId: 'c4', expiresAt: 105_000 }), [b({ callId: 'c3', expiresAt: 100_000 })], rep, 25_000)).toBe(false);
  });

  it('a bound of 0 reports every refresh, and a full table forgets its oldest entry', () => {
    const off = new RefreshReports(0);
    off.reported(b(), rep);
    expect(off.spare(b({ callId: 'c2', expiresAt: 3_601_000 }), [b()], rep, 1000)).toBe(false);
    const small = new RefreshReports(60_000, 2);
    for (const c of ['sip:1@x', 'sip:2@x', 'sip:3@x']) small.reported(b({ contact: c }), rep);
    expect(small.size).toBe(2);
    expect(small.spare(b({ contact: 'sip:1@x', callId: 'c2', expiresAt: 3_601_000 }), [b({ contact: 'sip:1@x' })], rep, 1000)).toBe(false);
    expect(small.spare(b({ contact: 'sip:3@x', callId: 'c2', expiresAt: 3_601_000 }), [b({ contact: 'sip:3@x' })], rep, 1000)).toBe(true);
  });
});

describeEngines('RADIUS AuC: the Digest answer says whether failures are pending; a grant is still single-use', (ctx) => {
  let store: Store;
  let server: RadiusAucServer;
  let client: RadiusAucClient;
  beforeAll(async () => {
    store = await ctx.open();
    await store.terminals.create(PHONE, randomBytes(32), PASSWORD);
    const auc = new Auc(store, { challengeTtlSeconds: 30, lockout: { threshold: 5, windowSeconds: 3600, baseSeconds: 30, maxSeconds: 300 } });
    server = await startRadiusAucServer({ host: '127.0.0.1', authPort: 0, acctPort: 0, secret: 'refresh-test-secret', service: auc });
    // One try, so that the report the AuC drops ends in AucUnavailableError; a wait long enough
    // for a loaded machine's PostgreSQL (150 ms failed answered requests there, now and then).
    client = new RadiusAucClient({ secret: 'refresh-test-secret', servers: [{ host: '127.0.0.1', authPort: server.authPort, acctPort: server.acctPort }], timeoutMs: 2000, retries: 0, totalTimeoutMs: 2500 });
  });
  afterAll(async () => {
    await client.close();
    await server.close();
    await store.close();
    await ctx.cleanup();
  });
  const ask = () => client.digest({ idc: PHONE, username: '2000', realm: 'lab.example', algorithm: 'MD5' });
  const report = { idc: PHONE, idsp: 'keyswitch-softswitch', ipc: '127.0.0.1', protocol: 'sip', contact: 'sip:2000@192.0.2.50:5060', mechanism: '', expiresAt: Date.now() + 3600_000 };

  it('No, then Yes after a failure, then No once a success report cleared it', async () => {
    expect(await ask()).toEqual({ ok: true, ha1: md5(`2000:lab.example:${PASSWORD}`), failuresPending: false });
    expect(await client.failed({ idc: PHONE, idsp: 'keyswitch-softswitch' })).toEqual({ locked: false });
    expect(await ask()).toMatchObject({ ok: true, failuresPending: true });
    await client.registered(report);
    expect(await store.failures.get(PHONE)).toBeUndefined();
    expect(await ask()).toMatchObject({ ok: true, failuresPending: false });
  });

  it('each Digest answer entitles its asker to one outcome report, reported or not, and no more', async () => {
    // one answer left from the test above (a refresh not reported), and one more now
    await ask();
    const dropped = server.stats().droppedUnboundReport;
    expect(await client.failed({ idc: PHONE, idsp: 'keyswitch-softswitch' })).toEqual({ locked: false });
    expect(await client.failed({ idc: PHONE, idsp: 'keyswitch-softswitch' })).toEqual({ locked: false });
    await expect(client.failed({ idc: PHONE, idsp: 'keyswitch-softswitch' })).rejects.toBeInstanceOf(AucUnavailableError);
    expect(server.stats().droppedUnboundReport).toBe(dropped + 1);
    expect((await store.failures.get(PHONE))?.count).toBe(2);
  });
});

describeEngines('Diameter AuC: the Digest answer (MAA) says whether failures are pending', (ctx) => {
  let store: Store;
  let close: () => Promise<void>;
  let client: DiameterAucClient;
  beforeAll(async () => {
    store = await ctx.open();
    await store.terminals.create(PHONE, randomBytes(32), PASSWORD);
    const auc = new Auc(store, { challengeTtlSeconds: 30, lockout: { threshold: 5, windowSeconds: 3600, baseSeconds: 30, maxSeconds: 300 } });
    const server = await startDiameterAucServer({ host: '127.0.0.1', port: 0, originHost: 'auc1.lab.example', originRealm: 'lab.example', service: auc, peers: [{ originHost: 'ss1.lab.example', addresses: ['127.0.0.1'] }] });
    close = () => server.close();
    client = new DiameterAucClient({ peers: [{ host: '127.0.0.1', port: server.port }], originHost: 'ss1.lab.example', originRealm: 'lab.example', destinationRealm: 'lab.example' });
    expect(await client.ready(3000)).toBe(true);
  });
  afterAll(async () => {
    await client.close();
    await close();
    await store.close();
    await ctx.cleanup();
  });
  const ask = () => client.digest({ idc: PHONE, username: '2000', realm: 'lab.example', algorithm: 'MD5' });

  it('No, then Yes after a failure, then No once a success report cleared it', async () => {
    expect(await ask()).toEqual({ ok: true, ha1: md5(`2000:lab.example:${PASSWORD}`), failuresPending: false });
    expect(await client.failed({ idc: PHONE, idsp: 'keyswitch-softswitch' })).toEqual({ locked: false });
    expect(await ask()).toMatchObject({ ok: true, failuresPending: true });
    await client.registered({ idc: PHONE, idsp: 'keyswitch-softswitch', ipc: '127.0.0.1', protocol: 'sip', contact: 'sip:2000@192.0.2.50:5060', mechanism: '', expiresAt: Date.now() + 3600_000 });
    expect(await store.failures.get(PHONE)).toBeUndefined();
    expect(await ask()).toMatchObject({ ok: true, failuresPending: false });
  });
});
