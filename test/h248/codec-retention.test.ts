import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { parseMessage, parseMessages } from '../../src/h248/index.js';

/**
 * An mId outlives its datagram: it names a peer on the core leg (Peer.mid) and is part of its reply-cache keys for
 * up to 30 s. Kept as a slice of the datagram's string it kept the whole datagram (up to 1,400 bytes of batched
 * messages) alive with it (docs/performance.md, "H.248 gateways, second pass (session 11)").
 */

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapAfterGc = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const N = 4000;
const PAD = '; ' + 'x'.repeat(1000) + '\n';

describe('H.248 codec: what a parsed message keeps', () => {
  for (const [label, mid] of [['address', (i: number) => `[192.0.2.${i % 250}]:${10000 + i}`], ['domain', (i: number) => `<mg${i}.example.net>:2944`], ['device name', (i: number) => `gateway-number-${i}`]] as const) {
    it(`a kept mId (${label}) does not keep the datagram it came in`, () => {
      const kept: string[] = [];
      const before = heapAfterGc();
      for (let i = 0; i < N; i++) {
        const text = `!/1 ${mid(i)}\n${PAD}T=${i}{C=-{N=ROOT{OE=1{g/sc}}}}\n`;
        const r = i % 2 ? parseMessage(Buffer.from(text)) : parseMessages(Buffer.from(text), 16);
        if (!r.ok) throw new Error(r.error.reason);
        kept.push('message' in r ? r.message.mid : r.messages[0]!.mid);
      }
      const grown = heapAfterGc() - before;
      expect(kept[7]).toBe(mid(7));
      // 4,000 datagrams of ~1 KB: kept whole that is > 4 MB; the mIds alone are well under 1 MB
      expect(grown).toBeLessThan(1024 * 1024);
    });
  }
});
