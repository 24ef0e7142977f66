import { afterEach, describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/h248/index.js';
import { registerH248Gateway } from '../../src/terminal/h248-gateway.js';
import { gatewayOptions, startLab, type Lab } from './harness.js';

let lab: Lab | undefined;
afterEach(() => {
  lab?.close();
  lab = undefined;
});

const text = (b: Buffer) => b.toString('utf8');
const kinds = (b: Buffer): string[] => {
  const r = parseMessage(b);
  if (!r.ok) throw new Error(`unparsable datagram: ${r.error.reason}`);
  return r.message.transactions.map((t) => t.type);
};

describe('H.248 piggy-backing: transactions to one peer in one turn share a message', () => {
  it("a reply and the request that follows it leave in one datagram, on the gateway's leg and the softswitch's", async () => {
    lab = await startLab({ access: true, core: true });
    const r = await registerH248Gateway({ ...gatewayOptions(lab), keepOpen: true });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    r.gateway!.close();
    const access = lab.access!.captured;
    const core = lab.core!.captured;
    // the gateway answers the challenge (s6) and sends its Notify ks/auth (s7) in one message
    const s6s7 = access.filter((c) => c.dir === 'up' && text(c.payload).includes('ks/auth'));
    expect(s6s7).toHaveLength(1);
    expect(kinds(s6s7[0]!.payload)).toEqual(expect.arrayContaining(['reply', 'request']));
    // the softswitch answers the ServiceChange (s2) and challenges (s5) in one message
    const s2s5 = core.filter((c) => c.dir === 'down' && text(c.payload).includes('ks/rand') && !text(c.payload).includes('ks/ekc'));
    expect(s2s5).toHaveLength(1);
    expect(kinds(s2s5[0]!.payload)).toEqual(expect.arrayContaining(['reply', 'request']));
    // every datagram of the registration is one message that parses, each transaction once
    for (const c of [...access, ...core]) expect(kinds(c.payload).length).toBeGreaterThan(0);
    // one datagram per message was 8 on the gateway's leg (four requests, four replies)
    expect(access.length).toBeLessThan(8);
  });
});
