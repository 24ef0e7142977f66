/**
 * The overload gate remembers each admitted request's branch for rememberMs
 * (10 s) so that its retransmissions pass while new work is refused: at a few
 * thousand requests a second, tens of thousands of entries. Each must cost its
 * branch, not the request: a branch read from a parsed Via is a slice of the
 * request's whole header text, and a Map keyed by it kept every admitted
 * request's headers alive for as long.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import { OverloadGate } from '../../src/sbc/overload.js';
import { parseMessage, type SipMessage } from '../../src/sip/index.js';
import type { MessageSource } from '../../src/sip/transport/types.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const SRC = { address: '192.0.2.10', port: 5060, protocol: 'udp', transport: {} } as unknown as MessageSource;
const PAD = 'x'.repeat(8000);

/** A first REGISTER (new work for the gate) with 16 KB of headers, as received. */
function register(i: number): SipMessage {
  const text = [
    'REGISTER sip:lab.example SIP/2.0',
    `Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-gate-memory-${i}`,
    'Max-Forwards: 70',
    `From: <sip:u${i}@lab.example>;tag=a${i}`,
    `To: <sip:u${i}@lab.example>`,
    `Call-ID: gate-${i}`,
    'CSeq: 1 REGISTER',
    `X-Pad-1: ${PAD}`,
    `X-Pad-2: ${PAD}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const r = parseMessage(Buffer.from(text, 'latin1'));
  if (!r.ok) throw new Error(r.error.reason);
  return r.message;
}

it('the admitted-request table holds branches, not the requests they came in', () => {
  const gate = new OverloadGate({ maxPending: 0, lagHighMs: 0, retryAfterSec: 1 }, { pending: () => 0, lagMs: () => 0 }, () => 1000);
  const n = 300;
  expect(gate.decide(register(0), SRC).kind).toBe('pass');
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 1; i <= n; i++) expect(gate.decide(register(i), SRC).kind).toBe('pass');
  gc();
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  expect(gate.stats().remembered).toBe(n + 1);
  // the requests' headers were 300 × 16 KB = 4.8 MB; the branches are ~60 bytes each
  expect(grown).toBeLessThan(1024 * 1024);
  // and a retransmission of an admitted request is still known (passes even while refusing)
  expect(gate.decide(register(7), SRC).kind).toBe('pass');
});
