/**
 * A small softswitch for the SBC tests: a SIP UAS speaking the core-link
 * contract (docs/sip-core-link.md) over UDP or TCP, running SoftswitchFlow
 * with an in-memory AuC built on makeVector.
 */
import { randomBytes } from 'node:crypto';
import { fromB64u, toB64u } from '../../src/crypto/ks1.js';
import { SoftswitchFlow } from '../../src/flow/softswitch.js';
import { aorOf } from '../../src/adapters/sip/ks1-sip.js';
import { createCancel, createSipStack, createTcpTransport, createUdpTransport, formatAuth, isSipUri, type ServerContext, type SipRequest, type SipStack } from '../../src/sip/index.js';
import { FakeAuc } from '../flow/harness.js';

export interface FakeCore {
  port: number;
  auc: FakeAuc;
  stack: SipStack;
  /** Every request as the core received it. */
  seen: SipRequest[];
  /** AOR → where the SBC registered it (route mode). */
  locations: Map<string, Location>;
  /** Answer every request this much later (a slow core). */
  delayMs: number;
  /** When set, takes every request but REGISTER instead of the core's own handling (a core that misbehaves). */
  calls: ((req: SipRequest, ctx: ServerContext) => void) | undefined;
  close(): Promise<void>;
}

export interface Location {
  contact: string;
  address: string;
  port: number;
}

export async function startFakeCore(o: { transport?: 'udp' | 'tcp'; idsp: string; ksp: Buffer; expires?: number; route?: boolean }): Promise<FakeCore> {
  const locations = new Map<string, Location>();
  let delayMs = 0;
  let calls: FakeCore['calls'];
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
      if (req.method !== 'REGISTER') {
        if (calls) return calls(req, ctx);
        if (o.route) return routeCall(req, ctx);
        return void ctx.respond(200, undefined, { toTag: 'core' });
      }
      const idc = aorOf(req.to())!;
      const idsp = req.get('P-KS-IDSP') ?? '';
      const contact = req.get('Contact');
      const asked = req.expires() ?? expires;
      const granted = Math.min(asked, expires);
      const bindingHeaders: Array<[string, string]> = granted > 0 && contact ? [['Contact', `${contact};expires=${granted}`]] : [];
      if (contact && granted > 0) locations.set(idc, { contact: contact.replace(/^[^<]*<([^>]*)>.*$/, '$1'), address: ctx.source.address, port: ctx.source.port });
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
          ctx.respond(403, undefined, { toTag: 'core' });
        } else if (r.kind === 'unavailable') ctx.respond(503, undefined, { toTag: 'core', headers: [['Retry-After', '5']] });
        else ctx.respond(400, undefined, { toTag: 'core' });
      }
    },
  });
  /** A record-routing proxy between terminals registered through the SBC, as the softswitch's call routing does it. */
  async function routeCall(req: SipRequest, ctx: ServerContext): Promise<void> {
    const me = `127.0.0.1:${t.port}`;
    const fwd = req.clone();
    for (const h of ['P-KS-IDSP', 'P-KS-Auth']) fwd.remove(h);
    const top = fwd.routes()[0];
    if (top && isSipUri(top.uri) && `${top.uri.host}:${top.uri.port}` === me) fwd.shift('Route');
    fwd.set('Max-Forwards', String((fwd.maxForwards() ?? 70) - 1));
    let dest: { destination: { address: string; port: number; protocol: 'udp' | 'tcp' } } | Record<string, never> = {};
    if (req.to().params.tag === undefined) {
      const loc = locations.get(aorOf(req.to()) ?? '');
      if (!loc) return void ctx.respond(404, undefined, { toTag: 'core' });
      fwd.uri = loc.contact;
      dest = { destination: { address: loc.address, port: loc.port, protocol: t.protocol === 'tcp' ? 'tcp' : 'udp' } };
      if (req.method === 'INVITE') fwd.prepend('Record-Route', `<sip:${me};lr${t.protocol === 'tcp' ? ';transport=tcp' : ''}>`);
    }
    if (req.method === 'ACK') return void stack.sendStateless(fwd, dest).catch(() => undefined);
    if (req.method === 'INVITE') ctx.onCancel(() => void stack.send(createCancel(fwd), { ...dest, noVia: true }).catch(() => undefined));
    const res = await stack.send(fwd, {
      ...dest,
      onResponse: (r) => {
        if (r.status > 100 && r.status < 200) {
          r.shift('Via');
          ctx.reply(r, { forwarded: true });
        }
      },
    });
    res.shift('Via');
    ctx.reply(res, { forwarded: true });
  }

  return {
    port: t.port, auc, stack, seen, locations, close: () => stack.close(),
    set delayMs(ms: number) {
      delayMs = ms;
    },
    set calls(fn: FakeCore['calls']) {
      calls = fn;
    },
  };
}
