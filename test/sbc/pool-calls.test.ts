/** Two SBC instances with one pool certificate verify each other's dialogs; an instance of another pool does not. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePoolCertificate } from '../../src/sbc/pool/certificate.js';
import { SigningPool } from '../../src/sbc/pool/pool.js';
import { startSbc, type RunningSbc } from '../../src/sbc/run.js';
import { SIGNING_METRICS } from '../../src/sbc/signing/metrics.js';
import { FAST, IDSP, startLab, type Lab } from './setup.js';
import { inDialogRequest, startAttacker, type Attacker } from './attacker.js';
import { call, callee } from './call-helpers.js';

describe('SBC pool', () => {
  const material = makePoolCertificate();
  const other = makePoolCertificate();
  let lab: Lab;
  let b: RunningSbc;
  let c: RunningSbc;
  let toB: Attacker;
  let toC: Attacker;
  beforeAll(async () => {
    lab = await startLab({ route: true, sbc: { signing: { pool: new SigningPool(material.cert, material.key) } } });
    const a = lab.sbc.ports;
    // B stands behind the same address as A: A's addresses are its own too.
    const aliases = [a.udp, a.tcp, a.tls, a.tlsPsk, a.core].map((p) => `127.0.0.1:${p}`);
    const common = {
      idsp: IDSP, ksp: lab.ksp, untrusted: { host: '127.0.0.1', udpPort: 0, tcpPort: false, tlsPort: false, tlsPskPort: false } as const,
      softswitch: { host: '127.0.0.1', port: lab.core.port }, tls: { dataDir: lab.dir }, timers: FAST,
    };
    b = await startSbc({ ...common, signing: { pool: new SigningPool(material.cert, material.key), aliases } });
    c = await startSbc({ ...common, signing: { pool: new SigningPool(other.cert, other.key), aliases } });
    toB = await startAttacker(b.ports.udp!, '127.0.0.3');
    toC = await startAttacker(c.ports.udp!, '127.0.0.3');
  });
  afterAll(async () => {
    toB?.close();
    toC?.close();
    await b?.close();
    await c?.close();
    await lab?.close();
  });

  it('a dialog set up through A is verified at B (same pool) and refused at C (another pool)', async () => {
    const bob = await callee(lab, 'bob@lab.example');
    const seen: Array<number | undefined> = [];
    let warning: string | undefined;
    const alice = await call(lab, 'alice@lab.example', 'bob@lab.example', {
      holdSeconds: 0.3,
      during: async ({ callId, dialog }) => {
        const o = { method: 'UPDATE', callId, from: 'alice@lab.example', to: 'bob@lab.example', dialog };
        // B has never seen this key: it opens the blob in A's Record-Route with the pool key.
        seen.push((await toB.ask(inDialogRequest(toB, o)))?.status);
        const r = await toC.ask(inDialogRequest(toC, o));
        seen.push(r?.status);
        warning = r?.get('Warning');
      },
    });
    expect(seen).toEqual([200, 403]);
    expect(warning).toMatch(/route-set signature other-pool/);
    expect(c.metrics.render()).toMatch(new RegExp(`${SIGNING_METRICS.failures}\\{check="route-set",reason="other-pool"\\} 1`));
    expect(b.stats().calls.routeSetRefused).toBe(0);
    expect(alice.code).toBe(0);
    expect(await bob.done).toBe(0);
  });
});
