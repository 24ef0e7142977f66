/** End to end through the real softswitch (src/softswitch/run.ts) and the real AuC over the embedded store. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Auc } from '../../src/auc/auc.js';
import { openStore, type Store } from '../../src/store/index.js';
import { startSoftswitch, type SoftswitchHandle } from '../../src/softswitch/run.js';
import { startSbc, type RunningSbc } from '../../src/sbc/run.js';
import { registerSip } from '../../src/terminal/register.js';
import { FAST, IDSP } from './setup.js';

for (const coreTransport of ['udp', 'tcp'] as const) {
  describe(`terminal → SBC → softswitch (${coreTransport}) → AuC`, () => {
    let dir: string;
    let store: Store;
    let ss: SoftswitchHandle;
    let sbc: RunningSbc;
    let ca: string;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'ks-e2e-'));
      store = await openStore({ dataDir: dir, masterKeyHex: randomBytes(32).toString('hex') });
      const ksp = randomBytes(32);
      await store.proxies.create(IDSP, ksp);
      const auc = new Auc(store, { challengeTtlSeconds: 30, lockout: { threshold: 3, windowSeconds: 60, baseSeconds: 30, maxSeconds: 300 } });
      const coreLinkKey = randomBytes(32);
      ss = await startSoftswitch({
        sip: { host: '127.0.0.1', udpPort: 0, tcpPort: 0 },
        trustedSbcs: ['127.0.0.1/32'],
        coreLinkKey,
        realm: 'lab.example',
        auc,
        store,
      });
      sbc = await startSbc({
        idsp: IDSP, ksp, coreLinkKey,
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

    for (const transport of ['udp', 'tcp'] as const) {
      for (const mech of ['app-hmac', 'tls-psk', 'tls'] as const) {
        it(`${transport}, ${mech}`, async () => {
          const idc = `e2e-${mech}-${transport}@lab.example`;
          const kc = randomBytes(32);
          await store.terminals.create(idc, kc, 'pw');
          const r = await registerSip({
            idc, kc, transport, mechs: `${mech};q=0.7, app-hmac;q=0.1`,
            sbc: { host: '127.0.0.1', port: transport === 'udp' ? sbc.ports.udp! : sbc.ports.tcp! },
            tls: { ca, servername: IDSP }, timers: FAST,
          });
          expect(r).toMatchObject({ ok: true, idc, idsp: IDSP, mechanism: mech });
        });
      }
    }

    it('a wrong key is an authentication failure', async () => {
      const idc = `e2e-wrong-${coreTransport}@lab.example`;
      await store.terminals.create(idc, randomBytes(32), 'pw');
      const r = await registerSip({ idc, kc: randomBytes(32), transport: 'udp', mechs: 'app-hmac', sbc: { host: '127.0.0.1', port: sbc.ports.udp! }, timers: FAST });
      expect(r).toMatchObject({ ok: false, authFailed: true, status: 401 });
    });
  });
}
