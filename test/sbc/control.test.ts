/** The SBC's operator control (src/sbc/control.ts) on a real store: what it writes, what it reads, and its bounds. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SbcSession } from '../../src/flow/sbc.js';
import { SbcControl } from '../../src/sbc/control.js';
import { SessionTable } from '../../src/sbc/sessions.js';
import { FailureCounter } from '../../src/sbc/sip-failures.js';
import { SignatureGuard } from '../../src/sbc/signing/guard.js';
import type { Store } from '../../src/store/index.js';
import { describeEngines } from '../helpers/engines.js';

const settle = () => new Promise((r) => setTimeout(r, 50));

/** A session as the KS1 flow makes it at s10, `registeredAt` on the SBC's clock. */
function session(idc: string, registeredAt: number): SbcSession {
  return { idc, idsp: 'sbc1.lab.example', mechanism: 'tls-psk', keys: { sessionKey: Buffer.alloc(32) }, registeredAt } as unknown as SbcSession;
}

describeEngines('SBC operator control through the store', (ctx) => {
  let store: Store;
  let t = 1_000_000;
  const now = () => t;

  beforeAll(async () => {
    store = await ctx.open({ now });
  });
  afterAll(async () => {
    await store.close();
    await ctx.cleanup();
  });

  function sbc(recordPerSecond = 20) {
    const sessions = new SessionTable(now);
    const failures = new FailureCounter(1000, now);
    let control: SbcControl | undefined;
    const guard = new SignatureGuard({ threshold: 2, windowMs: 1000, blockMs: 60_000, now, onAlert: (a) => control?.onBlock(a) });
    control = new SbcControl({ idsp: 'sbc1.lab.example', sessions, failures, guard, state: store.sbcState, now, recordPerSecond });
    return { control, sessions, failures, guard };
  }

  it('writes each block when it is made, reads operator actions after the last it saw, and skips those it applied itself', async () => {
    const a = sbc();
    const b = sbc();
    await a.control.start();
    await b.control.start();
    a.guard.fail('192.0.2.1');
    a.guard.fail('192.0.2.1');
    await settle();
    const page = await store.sbcState.blocks(0, 10);
    expect(page.items).toEqual([{ source: '192.0.2.1', idsp: 'sbc1.lab.example', reason: 'signature-failures', failures: 2, windowMs: 1000, blockedAt: t, expiresAt: t + 60_000 }]);
    expect(a.control.blocks()).toEqual(page.items);
    // an unblock applied in-process by `a` (origin) is skipped by `a` and applied by `b`
    b.guard.fail('192.0.2.1');
    b.guard.fail('192.0.2.1');
    expect(a.control.unblock('192.0.2.1')).toBe(true);
    await store.sbcState.addAction('unblock', '192.0.2.1', a.control.instance);
    expect((await a.control.poll()).map((x) => x.action)).toEqual(['unblock']);
    expect(b.guard.isBlocked('192.0.2.1')).toBe(true);
    await b.control.poll();
    expect(b.guard.isBlocked('192.0.2.1')).toBe(false);
    expect(await b.control.poll()).toEqual([]); // read once
    await a.control.stop();
    await b.control.stop();
    expect((await store.sbcState.blocks(0, 10)).total).toBe(0); // a stopped SBC holds no block
  });

  it('starts reading after the actions already there: an old request does not reach a new SBC', async () => {
    await store.sbcState.addAction('drop-session', 'alice@lab.example');
    const s = sbc();
    s.sessions.accept(session('alice@lab.example', t), 'sip', 'udp:192.0.2.10:5060', t + 3600_000);
    await s.control.start();
    await s.control.poll();
    expect(s.sessions.get('alice@lab.example')).toBeDefined();
    await s.control.stop();
  });

  it('drops a session only when it is older than the request (a terminal that registered again keeps its new one)', async () => {
    const s = sbc();
    await s.control.start();
    s.sessions.accept(session('alice@lab.example', t), 'sip', 'udp:192.0.2.10:5060', t + 3600_000);
    s.sessions.accept(session('bob@lab.example', t), 'sip', 'udp:192.0.2.11:5060', t + 3600_000);
    t += 1000;
    await store.sbcState.addAction('drop-session', 'alice@lab.example');
    t += 1000;
    s.sessions.accept(session('bob@lab.example', t), 'sip', 'udp:192.0.2.11:5060', t + 3600_000); // re-registered after the request
    await store.sbcState.addAction('drop-session', 'bob@lab.example');
    // the request for bob was made after his new session: it goes too; one made before it would not
    await s.control.poll();
    expect(s.sessions.get('alice@lab.example')).toBeUndefined();
    expect(s.sessions.get('bob@lab.example')).toBeUndefined();
    s.sessions.accept(session('carol@lab.example', t), 'sip', 'udp:192.0.2.12:5060', t + 3600_000);
    expect(s.control.dropSession('carol@lab.example', t - 1)).toBe(false);
    expect(s.control.dropSession('carol@lab.example', t)).toBe(true);
    await s.control.stop();
  });

  it('writes at most its cap of blocks a second to the store; the rest are held all the same and counted', async () => {
    const s = sbc(3);
    await s.control.start();
    for (let i = 0; i < 10; i++) {
      s.guard.fail(`198.51.100.${i}`);
      s.guard.fail(`198.51.100.${i}`);
    }
    await settle();
    expect(s.guard.blockedSources()).toHaveLength(10);
    expect(s.control.blocks()).toHaveLength(10);
    expect((await store.sbcState.blocks(0, 100)).total).toBe(3);
    expect(s.control.unrecorded).toBe(7);
    t += 1000; // the next second may write again
    s.guard.fail('203.0.113.1');
    s.guard.fail('203.0.113.1');
    await settle();
    expect((await store.sbcState.blocks(0, 100)).total).toBe(4);
    await s.control.stop();
  });

  it('lists failures per source most first, forgets a source on unblock, and writes a bounded snapshot', async () => {
    const s = sbc();
    for (let i = 0; i < 5; i++) s.failures.count('192.0.2.50', 'signature');
    s.failures.count('192.0.2.51', 'replay');
    s.failures.count('192.0.2.50', 'app-hmac');
    expect(s.control.sourceFailures(10).map((f) => [f.source, f.total, f.byKind])).toEqual([
      ['192.0.2.50', 6, { signature: 5, 'app-hmac': 1 }],
      ['192.0.2.51', 1, { replay: 1 }],
    ]);
    await store.sbcState.putSnapshot(s.control.instance, 'sbc1.lab.example', s.control.sourceFailures(1));
    const snap = await store.sbcState.sourceFailures(0, 10);
    expect(snap.items).toEqual([{ source: '192.0.2.50', idsp: 'sbc1.lab.example', total: 6, byKind: { signature: 5, 'app-hmac': 1 }, first: t, last: t }]);
    expect((await store.sbcState.sourceFailures(0, 10, { except: s.control.instance })).total).toBe(0);
    s.control.unblock('192.0.2.50');
    expect(s.control.sourceFailures(10).map((f) => f.source)).toEqual(['192.0.2.51']);
    await store.sbcState.clearSnapshot(s.control.instance);
  });
});
