/**
 * npx tsx bench/sip-relay-loop.ts [tree]
 *
 * CPU time (process.cpuUsage: the stack's own work, which other processes' load inflates
 * less than a wall-clock rate) per Digest-style REGISTER sent by a UAC stack, relayed
 * statefully by a proxy made of two stacks (an edge and a core side, as the SBC is) with the
 * proxy core's relay, and answered 200 by a registrar stack: all four in one process over
 * loopback UDP, 20 in flight. Transactions, their timers and the completed-transaction
 * tables, parse, serialise, promises and sendmsg — what bench/sip-forward-loop.ts leaves out.
 * Median of 5 rounds of 10,000 after 5,000 to warm up. `tree`: another checkout's root (its
 * src/ is imported), to compare two trees in alternation (docs/performance.md, "SBC (session 6)").
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
const tree = resolve(process.argv[2] ?? join(import.meta.dirname, '..'));
import type * as SipModule from '../src/sip/index.js';
import type * as RelayModule from '../src/sip/proxy/relay.js';
import { SIPP_DIGEST } from './sipp-register.js';
const Sip = (await import(pathToFileURL(join(tree, 'src', 'sip', 'index.ts')).href)) as typeof SipModule;
const { relay } = (await import(pathToFileURL(join(tree, 'src', 'sip', 'proxy', 'relay.ts')).href)) as typeof RelayModule;
const { createSipStack, createUdpTransport, createRequest } = Sip;
const registrar = createSipStack({ transports: [await createUdpTransport()], onRequest: (_req, ctx) => { ctx.respond(200, undefined, { toTag: 'r', headers: [['Expires', '3600']] }); } });
const rport = registrar.transports[0]!.port;
const core = createSipStack({ transports: [await createUdpTransport()], onRequest: () => undefined });
const edge = createSipStack({
  transports: [await createUdpTransport()],
  onRequest: async (req, ctx) => {
    const fwd = req.clone();
    fwd.set('Max-Forwards', String(fwd.maxForwards()! - 1));
    fwd.set('P-KS-IDSP', 'sbc1.lab.example');
    const out = await relay({ stack: core, ctx, fwd, branches: [{ destination: { address: '127.0.0.1', port: rport } }], tryingAfterMs: 4000, upstream: () => undefined });
    const res = out.kind === 'failed' ? out.best!.res : out.res;
    ctx.reply(res, { forwarded: true });
  },
});
const eport = edge.transports[0]!.port;
const uac = createSipStack({ transports: [await createUdpTransport()], onRequest: () => undefined });
let i = 0;
const one = async () => {
  const n = i++;
  const req = createRequest('REGISTER', `sip:127.0.0.1:${eport}`, [
    ['To', `<sip:u${n % 1000}@127.0.0.1>`], ['From', `<sip:u${n % 1000}@127.0.0.1>;tag=f${n}`], ['Call-ID', `${n}-loop@127.0.0.1`], ['CSeq', '2 REGISTER'],
    ['Contact', `<sip:u${n % 1000}@127.0.0.1:45999>`],
    ['Authorization', SIPP_DIGEST],
    ['Expires', '3600'], ['User-Agent', 'sipp'],
  ]);
  const res = await uac.send(req);
  if (res.status !== 200) throw new Error('status ' + res.status);
};
async function run(n: number): Promise<number> {
  const c0 = process.cpuUsage();
  let left = n;
  await Promise.all(Array.from({ length: 20 }, async () => { while (left-- > 0) await one(); }));
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}
await run(5000);
const xs: number[] = [];
for (let k = 0; k < 5; k++) xs.push(await run(10000));
xs.sort((a, b) => a - b);
console.log(tree, 'CPU µs per relayed REGISTER (UAC, proxy and registrar together):', xs.map((x) => x.toFixed(1)).join(' '), 'median', xs[2]!.toFixed(1));
for (const s of [uac, edge, core, registrar]) await s.close();
process.exit(0);
