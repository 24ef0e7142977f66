/** Two SBC instances with one pool certificate verify each other's dialogs; an instance of another pool does not. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SipTerminal } from '../../src/terminal/sip-terminal.js';
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

  it('a dialog set up through A is verified at B (same pool) and refused at C (another pool); at B only its party may use it', async () => {
    const kcAlice = randomBytes(32);
    const bob = await callee(lab, 'bob@lab.example');
    const seen: Array<number | undefined> = [];
    const warnings: Array<string | undefined> = [];
    let aliceAtB: SipTerminal | undefined;
    const alice = await call(lab, 'alice@lab.example', 'bob@lab.example', {
      kc: kcAlice,
      holdSeconds: 0.3,
      during: async ({ callId, dialog }) => {
        const o = { method: 'UPDATE', callId, from: 'alice@lab.example', to: 'bob@lab.example', dialog };
        // B has never seen this key: it opens the blob in A's Record-Route with the pool key, and
        // reads the party the route set names (alice) — a third party is not her.
        const r1 = await toB.ask(inDialogRequest(toB, o));
        seen.push(r1?.status);
        warnings.push(r1?.get('Warning'));
        // alice herself, registered at B too, under her own app-hmac session there
        aliceAtB = new SipTerminal({ ...lab.terminal('alice@lab.example', kcAlice), mechs: 'app-hmac;q=0.5', sbc: { host: '127.0.0.1', port: b.ports.udp! } });
        await aliceAtB.registerKs1();
        await aliceAtB.applyMechanism();
        const uac = aliceAtB.securedUac;
        const update = uac.build({
          method: 'UPDATE', requestUri: dialog.remoteTarget, aor: 'alice@lab.example', to: `<sip:bob@lab.example>;tag=${dialog.remoteTag}`,
          callId, cseq: 50, fromTag: dialog.localTag, headers: dialog.routeSet.map((r) => ['Route', r] as [string, string]), signer: aliceAtB.signer!,
        });
        seen.push((await uac.sendBuilt(update)).status);
        const r2 = await toC.ask(inDialogRequest(toC, o));
        seen.push(r2?.status);
        warnings.push(r2?.get('Warning'));
      },
    });
    await aliceAtB?.close();
    expect(seen).toEqual([403, 200, 403]);
    expect(warnings[0]).toMatch(/not sent by the party of this dialog/);
    expect(warnings[1]).toMatch(/route-set signature other-pool/);
    expect(await c.metrics.render()).toMatch(new RegExp(`${SIGNING_METRICS.failures}\\{check="route-set",reason="other-pool"\\} 1`));
    expect(b.stats().calls.routeSetRefused).toBe(0);
    expect(b.stats().calls.notParty).toBe(1);
    expect(alice.code).toBe(0);
    expect(await bob.done).toBe(0);
    expect(bob.events.filter((e) => e.event === 'request')).toEqual([expect.objectContaining({ method: 'UPDATE' })]);
  });
});
