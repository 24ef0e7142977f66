/** A signed call end to end: terminal → SBC → real softswitch (call router) → SBC → terminal, with the AuC over the embedded store. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Auc } from '../../src/auc/auc.js';
import { openStore, type Store } from '../../src/store/index.js';
import { startSoftswitch, type SoftswitchHandle } from '../../src/softswitch/run.js';
import { startSbc, type RunningSbc } from '../../src/sbc/run.js';
import { answerCalls, placeCall, type CallEvent } from '../../src/terminal/call.js';
import { FAST, IDSP } from './setup.js';

for (const coreTransport of ['udp', 'tcp'] as const) {
  describe(`a call through SBC and the softswitch (${coreTransport} core link)`, () => {
    let dir: string;
    let store: Store;
    let ss: SoftswitchHandle;
    let sbc: RunningSbc;
    let ca: string;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'ks-e2e-calls-'));
      store = await openStore({ dataDir: dir, masterKeyHex: randomBytes(32).toString('hex') });
      const ksp = randomBytes(32);
      await store.proxies.create(IDSP, ksp);
      const auc = new Auc(store, { challengeTtlSeconds: 30, lockout: { threshold: 3, windowSeconds: 60, baseSeconds: 30, maxSeconds: 300 } });
      const coreLinkKey = randomBytes(32);
      ss = await startSoftswitch({ sip: { host: '127.0.0.1', udpPort: 0, tcpPort: 0 }, trustedSbcs: ['127.0.0.1/32'], coreLinkKey, realm: 'lab.example', auc, store });
      sbc = await startSbc({
        idsp: IDSP, ksp, store, coreLinkKey,
        untrusted: { host: '127.0.0.1', udpPort: 0, tcpPort: 0, tlsPort: 0, tlsPskPort: 0 },
        softswitch: { host: '127.0.0.1', port: coreTransport === 'udp' ? ss.ports.udp! : ss.ports.tcp!, transport: coreTransport },
        tls: { dataDir: dir },
        timers: FAST,
      });
      ca = readFileSync(sbc.certificate!.certFile, 'utf8');
    });
    afterAll(async () => {
      await sbc?.close();
      await ss?.close();
      await store?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    for (const [am, bm] of [['app-hmac', 'tls-psk'], ['tls-psk', 'app-hmac']] as const) {
      it(`INVITE → 180 → 200 → ACK → BYE → 200, caller ${am}, callee ${bm}`, async () => {
        const a = `a-${am}-${coreTransport}@lab.example`;
        const b = `b-${bm}-${coreTransport}@lab.example`;
        const ka = randomBytes(32);
        const kb = randomBytes(32);
        await store.terminals.create(a, ka, 'pw');
        await store.terminals.create(b, kb, 'pw');
        const common = { transport: 'udp' as const, sbc: { host: '127.0.0.1', port: sbc.ports.udp! }, tls: { ca, servername: IDSP }, timers: FAST };
        const bEvents: CallEvent[] = [];
        let ready!: () => void;
        const registered = new Promise<void>((r) => (ready = r));
        const answering = answerCalls({
          ...common, idc: b, kc: kb, mechs: `${bm};q=0.5`, calls: 1, timeoutSeconds: 15,
          onEvent: (e) => {
            bEvents.push(e);
            if (e.event === 'registered' || e.event === 'failed') ready();
          },
        });
        await registered;
        const aEvents: CallEvent[] = [];
        const code = await placeCall({ ...common, idc: a, kc: ka, mechs: `${am};q=0.5`, to: b, holdSeconds: 0.2, onEvent: (e) => aEvents.push(e) });
        expect(aEvents.map((e) => e.event)).toEqual(['registered', 'calling', 'ringing', 'answered', 'bye']);
        expect(code).toBe(0);
        expect(await answering).toBe(0);
        expect(bEvents.map((e) => e.event)).toEqual(['registered', 'incoming', 'ringing', 'answered', 'confirmed', 'bye']);
        const incoming = bEvents.find((e) => e.event === 'incoming') as Extract<CallEvent, { event: 'incoming' }>;
        // The callee's route set: our signed entry on top, the softswitch in the middle.
        expect(incoming.dialog.routeSet[0]).toMatch(/ks-rr=.*ks-rsb=|ks-rsb=.*ks-rr=/);
        expect(incoming.dialog.routeSet.length).toBeGreaterThanOrEqual(5);
        const s = sbc.stats();
        expect(s.signing.viaDropped).toBe(0);
        expect(s.calls.routeSetRefused).toBe(0);
        expect(s.calls.dialogs).toBe(0);
      });
    }

    it('keys come from the store: sealed rows for both rings', async () => {
      const live = await store.signingKeys.live('rr', Date.now());
      expect(live.map((k) => k.id)).toContain(sbc.signingKeys!.rr.current().id);
    });
  });
}
