/**
 * The core link's verifier remembers every MAC it accepted for its window
 * (60 s) to refuse replays: at a few thousand requests a second that is a
 * hundred thousand entries. Each must cost its MAC, not the request: a MAC
 * read out of a parsed header is a slice of the whole header section's text,
 * and a Map keyed by it kept every request's headers alive for 60 s (27,566
 * REGISTERs, 18 MiB, in the softswitch's heap under bench:overload; see
 * docs/performance.md, "Overload and memory (session 4)").
 */
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import { CoreLinkVerifier, signCoreLink } from '../../src/adapters/sip/core-link.js';
import { createRequest, parseMessage, serialize, type SipRequest } from '../../src/sip/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const KEY = randomBytes(32);
const PAD = 'x'.repeat(8000);

/** A signed REGISTER on the wire, 24 KB of headers. */
function signed(i: number): Buffer {
  const req = createRequest('REGISTER', 'sip:lab.example', [
    ['Via', `SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-link-${i}`],
    ['From', `<sip:u${i}@lab.example>;tag=t${i}`],
    ['To', `<sip:u${i}@lab.example>`],
    ['Call-ID', `link-mem-${i}`],
    ['CSeq', '1 REGISTER'],
    ['X-Pad-1', PAD],
    ['X-Pad-2', PAD],
    ['X-Pad-3', PAD],
  ]);
  signCoreLink(req, KEY);
  return serialize(req);
}

/** As it arrives: parsed from the wire. */
function parsed(wire: Buffer): SipRequest {
  const r = parseMessage(wire);
  if (!r.ok) throw new Error('did not parse');
  return r.message as SipRequest;
}

it('the seen-MAC table holds the MACs, not the requests they came in', () => {
  const verifier = new CoreLinkVerifier(KEY);
  const n = 400;
  const first = signed(0);
  gc();
  const before = process.memoryUsage().heapUsed;
  expect(verifier.verify(parsed(first))).toEqual({ ok: true });
  for (let i = 1; i < n; i++) expect(verifier.verify(parsed(signed(i)))).toEqual({ ok: true });
  gc();
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  expect(verifier.remembered).toBe(n);
  // the requests' headers were 400 × 24 KB = 9.6 MB; the MACs are ~100 bytes each
  expect(grown).toBeLessThan(1024 * 1024);
  // and still knows each: the same request again is a replay
  expect(verifier.verify(parsed(first))).toEqual({ ok: false, reason: 'replayed' });
});
