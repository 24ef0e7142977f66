/**
 * npx tsx bench/piggyback-loop.ts [tree] [mgcp|h248]
 *
 * CPU time (process.cpuUsage) per transaction through the MGCP and H.248 transports with
 * piggy-backing on: a client sends 16 commands (AUEP / Notify) to one server in one turn of the
 * event loop, so they leave in one datagram and their 16 answers in another; then the next 16.
 * Both ends in this process over loopback UDP: encode, batch, sendmsg, parse, the handler,
 * the response cache. Median of 7 rounds of 16,000 after 16,000 to warm up. `tree`: another
 * checkout's root (its src/ is imported), to compare two trees in alternation; `mgcp` or `h248`:
 * that transport alone (by default both, MGCP first, as a process that runs both).
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as MgcpTransportModule from '../src/mgcp/transport.js';
import type * as H248 from '../src/h248/index.js';

const tree = resolve(process.argv[2] ?? join(import.meta.dirname, '..'));
const only = process.argv[3];
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

async function mgcp(): Promise<string> {
  const server = await MgcpTransport.open({ host: '127.0.0.1', port: 0, onCommand: () => ({ code: 200 }), maxCachedResponses: 1_000_000 });
  const client = await MgcpTransport.open({ host: '127.0.0.1', port: 0, onCommand: () => ({ code: 200 }), maxCachedResponses: 1_000_000 });
  const to = { host: '127.0.0.1', port: server.port };
  const us = await cpuPerTransaction(async () => {
    const all: Promise<unknown>[] = [];
    for (let i = 0; i < PER_TURN; i++) all.push(client.send(to, { verb: 'AUEP', endpoint: `aaln/${i}@gw.bench.example`, version: '1.0', params: [] }));
    await Promise.all(all);
  });
  const { datagramsOut, responsesIn } = client.stats();
  await server.close();
  await client.close();
  return `  MGCP  ${us.toFixed(2)}  (client datagrams out per response: ${(datagramsOut / responsesIn).toFixed(3)})`;
}

async function h248(): Promise<string> {
  const notify: H248.Action[] = [{ context: '-', commands: [{ name: 'Notify', terminations: ['ROOT'], descriptors: [] }] }];
  const opts = (mid: string): H248.EndpointOptions => ({ mid, maxCache: 1_000_000, onRequest: (req) => ({ actions: req.transaction.actions }) });
  const server = await H248Endpoint.bind({ host: '127.0.0.1', port: 0 }, opts('[127.0.0.1]:1'));
  const client = await H248Endpoint.bind({ host: '127.0.0.1', port: 0 }, opts('[127.0.0.1]:2'));
  const to = { address: '127.0.0.1', port: server.port };
  const us = await cpuPerTransaction(async () => {
    const all: Promise<unknown>[] = [];
    for (let i = 0; i < PER_TURN; i++) all.push(client.request(to, notify));
    await Promise.all(all);
  });
  const { received, requests } = server.stats();
  server.close();
  client.close();
  return `  H.248 ${us.toFixed(2)}  (server datagrams in per request: ${(received / requests).toFixed(3)})`;
}

const lines: string[] = [];
if (only !== 'h248') lines.push(await mgcp());
if (only !== 'mgcp') lines.push(await h248());
console.log(`${tree}: CPU µs per transaction, ${PER_TURN} per turn to one peer, median of 7 rounds of ${ROUND.toLocaleString('en')}`);
for (const l of lines) console.log(l);
process.exit(0);
