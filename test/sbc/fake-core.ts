/**
 * A small softswitch for the SBC tests: a SIP UAS speaking the core-link
 * contract (docs/sip-core-link.md) over UDP or TCP, running SoftswitchFlow
 * with an in-memory AuC built on makeVector.
 */
import { randomBytes } from 'node:crypto';
import { fromB64u, toB64u } from '../../src/crypto/ks1.js';
import { SoftswitchFlow } from '../../src/flow/softswitch.js';
import { aorOf } from '../../src/adapters/sip/sbc-ks1.js';
import { createSipStack, createTcpTransport, createUdpTransport, formatAuth, type SipRequest, type SipStack } from '../../src/sip/index.js';
import { FakeAuc } from '../flow/harness.js';

export interface FakeCore {
  port: number;
  auc: FakeAuc;
  stack: SipStack;
  /** Every request as the core received it. */
  seen: SipRequest[];
  /** Answer every request this much later (a slow core). */
  delayMs: number;
  close(): Promise<void>;
}

export async function startFakeCore(o: { transport?: 'udp' | 'tcp'; idsp: string; ksp: Buffer; expires?: number }): Promise<FakeCore> {
  let delayMs = 0;
  const auc = new FakeAuc(Date.now, randomBytes);
  auc.proxies.set(o.idsp, o.ksp);
  const flow = new SoftswitchFlow({ auc });
  const seen: SipRequest[] = [];
  const expires = o.expires ?? 600;
  const t = o.transport === 'tcp' ? await createTcpTransport({ port: 0 }) : await createUdpTransport({ port: 0 });
  const stack = createSipStack({
    transports: [t],
    timers: { T1: 100, T2: 400, T4: 500 },
    onRequest: async (req, ctx) => {
      seen.push(req);
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      if (req.method !== 'REGISTER') return void ctx.respond(200, undefined, { toTag: 'core' });
      const idc = aorOf(req.to())!;
      const idsp = req.get('P-KS-IDSP') ?? '';
      const contact = req.get('Contact');
      const asked = req.expires() ?? expires;
      const granted = Math.min(asked, expires);
      const bindingHeaders: Array<[string, string]> = granted > 0 && contact ? [['Contact', `${contact};expires=${granted}`]] : [];
      if (req.get('P-KS-Auth')) return void ctx.respond(200, undefined, { toTag: 'core', headers: bindingHeaders });
      const ks1 = req.auth('Authorization').find((a) => a.scheme.toUpperCase() === 'KS1');
      if (ks1 && 'response' in ks1.params) {
        const p = ks1.params;
        const s8 = { idc, idsp, rand: fromB64u(p.nonce ?? '', 16)!, authenticator: fromB64u(p.response ?? '', 16)!, mech: req.get('P-KS-Mech') ?? '', ipc: req.get('P-KS-IPC') ?? '' };
        const r = await flow.onAuthenticate(s8, { protocol: 'sip', contact: contact ?? '', expiresAt: Date.now() + granted * 1000 });
        if (r.kind === 'accepted') {
          const keys = `ekc="${toB64u(r.s9.ekc)}", eksp="${toB64u(r.s9.eksp)}", rand="${toB64u(r.s9.rand)}"`;
          return void ctx.respond(200, undefined, { toTag: 'core', headers: [...bindingHeaders, ['P-KS-Keys', keys]] });
        }
        return answer(r);
      }
      answer(await flow.onRegister({ idc, idsp }));

      function answer(r: Awaited<ReturnType<SoftswitchFlow['onRegister']>>): void {
        if (r.kind === 'challenge') {
          ctx.respond(401, undefined, { toTag: 'core', headers: [['WWW-Authenticate', formatAuth('KS1', { realm: r.s5.idsp, nonce: toB64u(r.s5.rand), algorithm: 'ks1' })]] });
        } else if (r.kind === 'forbidden') {
          ctx.respond(403, undefined, { toTag: 'core', headers: r.retryAfterSeconds ? [['Retry-After', String(r.retryAfterSeconds)]] : [] });
        } else if (r.kind === 'unavailable') ctx.respond(503, undefined, { toTag: 'core', headers: [['Retry-After', '5']] });
        else ctx.respond(400, undefined, { toTag: 'core' });
      }
    },
  });
  return {
    port: t.port, auc, stack, seen, close: () => stack.close(),
    set delayMs(ms: number) {
      delayMs = ms;
    },
  };
}
