/**
 * npx tsx bench/piggyback-loop.ts [tree]
 *
 * CPU time (process.cpuUsage) per transaction through the MGCP and H.248 transports with
 * piggy-backing on: a client sends 16 commands (AUEP / Notify) to one server in one turn of the
 * event loop, so they leave in one datagram and their 16 answers in another; then the next 16.
 * Both ends in this process over loopback UDP: encode, batch, sendmsg, parse, the handler,
 * the response cache. Median of 7 rounds of 16,000 after 16,000 to warm up. `tree`: another
 * checkout's root (its src/ is imported), to compare two trees in alternation.
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as MgcpTransportModule from '../src/mgcp/transport.js';
import type * as H248 from '../src/h248/index.js';

const tree = resolve(process.argv[2] ?? join(import.meta.dirname, '..'));
const src = (p: string): string => pathToFileURL(join(tree, 'src', p)).href;
const { MgcpTransport } = (await import(src('mgcp/transport.ts'))) as typeof MgcpTransportModule;
const { H248Endpoint } = (await import(src('h248/index.ts'))) as typeof H248;

const PER_TURN = 16;
const ROUND = 16_000;

async function cpuPerTransaction(burst: () => Promise<void>): Promise<number> {
  for (let i = 0; i < ROUND / PER_TURN; i++) await burst();
  const xs: number[] = [];
  for (let r = 0; r < 7; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < ROUND / PER_TURN; i++) await burst();
    const c = process.cpuUsage(c0);
    xs.push((c.user + c.system) / ROUND);
  }
  xs.sort((a, b) => a - b);
  return xs[3]!;
}

const mgcpServer = await MgcpTransport.open({ host: '127.0.0.1', port: 0, onCommand: () => ({ code: 200 }), maxCachedResponses: 1_000_000 });
const mgcpClient = await MgcpTransport.open({ host: '127.0.0.1', port: 0, onCommand: () => ({ code: 200 }), maxCachedResponses: 1_000_000 });
const mgcpTo = { host: '127.0.0.1', port: mgcpServer.port };
const mgcp = await cpuPerTransaction(async () => {
  const all: Promise<unknown>[] = [];
  for (let i = 0; i < PER_TURN; i++) all.push(mgcpClient.send(mgcpTo, { verb: 'AUEP', endpoint: `aaln/${i}@gw.bench.example`, version: '1.0', params: [] }));
  await Promise.all(all);
});
const mgcpOut = mgcpClient.stats().datagramsOut;
const mgcpSent = mgcpClient.stats().responsesIn;
await mgcpServer.close();
await mgcpClient.close();

const notify: H248.Action[] = [{ context: '-', commands: [{ name: 'Notify', terminations: ['ROOT'], descriptors: [] }] }];
const h248Server = await H248Endpoint.bind({ host: '127.0.0.1', port: 0 }, { mid: '[127.0.0.1]:1', maxCache: 1_000_000, onRequest: (req) => ({ actions: req.transaction.actions }) });
const h248Client = await H248Endpoint.bind({ host: '127.0.0.1', port: 0 }, { mid: '[127.0.0.1]:2', maxCache: 1_000_000, onRequest: (req) => ({ actions: req.transaction.actions }) });
const h248To = { address: '127.0.0.1', port: h248Server.port };
const h248 = await cpuPerTransaction(async () => {
  const all: Promise<unknown>[] = [];
  for (let i = 0; i < PER_TURN; i++) all.push(h248Client.request(h248To, notify));
  await Promise.all(all);
});
const h248Received = h248Server.stats().received;
const h248Requests = h248Server.stats().requests;
h248Server.close();
h248Client.close();

console.log(`${tree}: CPU µs per transaction, ${PER_TURN} per turn to one peer, median of 7 rounds of ${ROUND.toLocaleString('en')}`);
console.log(`  MGCP  ${mgcp.toFixed(2)}  (client datagrams out per response: ${(mgcpOut / mgcpSent).toFixed(3)})`);
console.log(`  H.248 ${h248.toFixed(2)}  (server datagrams in per request: ${(h248Received / h248Requests).toFixed(3)})`);
process.exit(0);
