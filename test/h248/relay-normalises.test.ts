import { afterEach, describe, expect, it } from 'vitest';
import { parseMessages } from '../../src/h248/index.js';
import { registerH248Gateway } from '../../src/terminal/h248-gateway.js';
import { gatewayOptions, startLab, type Lab } from './harness.js';

/**
 * The SBC writes what it relays toward the softswitch from its parse, in keyswitch's compact form; it never
 * forwards a gateway's bytes as they came (docs/h248.md, "What the SBC relays: normalised, never verbatim").
 */

let lab: Lab | undefined;
afterEach(() => {
  lab?.close();
  lab = undefined;
});

describe('H.248 SBC: a gateway\'s request reaches the softswitch normalised', () => {
  it('long tokens, comments, white space and leading zeros in a protected Notify leave toward the softswitch in compact form', async () => {
    lab = await startLab({ core: true });
    const r = await registerH248Gateway({ ...gatewayOptions(lab), keepOpen: true });
    if (!r.ok || !r.gateway) throw new Error('registration failed');
    const gw = r.gateway;
    try {
      const before = lab.ss.stats().commands;
      const upBefore = lab.core!.captured.filter((c) => c.dir === 'up').length;
      // valid RFC 3525 text, as a gateway may spell it; the gateway's endpoint adds the Annex B header
      gw.endpoint.send({ address: lab.target.host, port: lab.target.port }, `MEGACO/1 [127.0.0.1]:${gw.port} ; sent by hand\r\n` +
        'Transaction = 00042 { ; comment inside\r\n  Context = - {\r\n    Notify = A4444 { ObservedEvents = 1 { al/of } } } }\r\n');
      await expect.poll(() => lab!.ss.stats().commands).toBe(before + 1);
      const up = lab.core!.captured.filter((c) => c.dir === 'up').slice(upBefore).map((c) => c.payload.toString('latin1'));
      const relayed = up.filter((t) => t.includes('A4444'));
      expect(relayed).toHaveLength(1);
      const text = relayed[0]!;
      // the body as keyswitch writes it (the transaction id is the SBC's own on the core leg)
      expect(text).toMatch(/^!\/1 \[127\.0\.0\.1\]:\d+\nT=\d+\{C=-\{N=A4444\{OE=1\{al\/of\}\}\}\}\n/m);
      for (const gone of [';', 'sent by hand', 'comment', 'Transaction', 'Context', 'Notify', 'ObservedEvents', 'MEGACO', '\r', '00042']) {
        expect(text).not.toContain(gone);
      }
      const parsed = parseMessages(lab.core!.captured.filter((c) => c.dir === 'up').slice(upBefore).find((c) => c.payload.includes('A4444'))!.payload, 16);
      expect(parsed.ok).toBe(true);
    } finally {
      gw.close();
    }
  });
});
