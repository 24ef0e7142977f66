/**
 * Timer C on the SBC's core leg (RFC 3261 §16.8, `sbc.timerCSeconds`): a softswitch that
 * answers a terminal's INVITE with 180 and then never again. The SBC, with a short Timer C,
 * sends the softswitch a CANCEL and gives the caller a final answer (408) instead of leaving it
 * ringing forever. No timing is asserted beyond "before a generous deadline".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerContext, SipRequest } from '../../src/sip/index.js';
import { call } from './call-helpers.js';
import { startLab, type Lab } from './setup.js';

describe('SBC: Timer C on an INVITE to the softswitch', () => {
  let lab: Lab;
  const core = { invites: 0, cancels: 0, acks: 0 };

  beforeAll(async () => {
    lab = await startLab({ timerCMs: 500 });
    // a softswitch that rings and then says nothing: no final answer, not even to a CANCEL
    lab.core.calls = (req: SipRequest, ctx: ServerContext) => {
      if (req.method === 'ACK') return void core.acks++;
      if (req.method !== 'INVITE') return void ctx.respond(200, undefined, { toTag: 'core' });
      core.invites++;
      ctx.onCancel(() => core.cancels++);
      ctx.respond(180, undefined, { toTag: 'core' });
    };
  });
  afterAll(async () => {
    await lab?.close();
  });

  it('the caller gets 408 after Timer C, and the softswitch gets a CANCEL', async () => {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no final answer within 20 s')), 20_000);
    });
    const run = await Promise.race([call(lab, 'alice@lab.example', 'bob@lab.example'), deadline]).finally(() => clearTimeout(timer));
    expect(run.events.map((e) => e.event)).toEqual(['registered', 'calling', 'ringing', 'failed']);
    expect(run.events.at(-1)).toMatchObject({ event: 'failed', status: 408 });
    expect(run.code).not.toBe(0);
    expect(core.invites).toBe(1);
    // the CANCEL left as the 408 did; its arrival is a datagram away
    const end = Date.now() + 5000;
    while (core.cancels === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    expect(core.cancels).toBe(1);
  }, 30_000);
});
