/**
 * CANCEL bound to its INVITE's flow (`cancelFromSameFlow`, the SBC's untrusted side).
 * RFC 3261 §9.2 matches a CANCEL by branch and sent-by, which a third party who saw the
 * INVITE can copy: with the option, a copied CANCEL from another port or address gets
 * 481 and the INVITE rings on; the caller's own CANCEL still ends it with 487.
 */
import { afterEach, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { createSipStack, createUdpTransport, parseMessage, type SipResponse, type SipStack } from '../../src/sip/index.js';

const stacks: SipStack[] = [];
const sockets: dgram.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});

const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** A UAS that rings and waits; a CANCEL that reaches it is answered 487 on the INVITE. */
async function ringingUas(cancelFromSameFlow: boolean) {
  const cancels: string[] = [];
  const stack = createSipStack({
    transports: [await createUdpTransport()],
    cancelFromSameFlow,
    timers: { T1: 50, T2: 200, T4: 250 },
    onRequest: (req, ctx) => {
      if (req.method !== 'INVITE') {
        ctx.respond(200);
        return;
      }
      ctx.respond(180, undefined, { toTag: 'uas1' });
      ctx.onCancel(() => {
        cancels.push(req.callId());
        ctx.respond(487, undefined, { toTag: 'uas1' });
      });
    },
  });
  stacks.push(stack);
  return { stack, port: stack.transports[0]!.port, cancels };
}

async function peer(host: string) {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  sockets.push(s);
  const got: SipResponse[] = [];
  s.on('message', (b) => {
    const p = parseMessage(b);
    if (p.ok && p.message.isResponse()) got.push(p.message as SipResponse);
  });
  return { port: s.address().port, got, send: (text: string, port: number) => s.send(Buffer.from(text), port, '127.0.0.1') };
}

function invite(callerPort: number, branch: string): string {
  return [
    'INVITE sip:bob@127.0.0.1 SIP/2.0',
    `Via: SIP/2.0/UDP 127.0.0.1:${callerPort};branch=${branch};rport`,
    'Max-Forwards: 70',
    'From: <sip:alice@lab.example>;tag=a1',
    'To: <sip:bob@lab.example>',
    `Call-ID: call-${branch}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:alice@127.0.0.1:${callerPort}>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** The CANCEL for that INVITE (§9.1): the same Request-URI, top Via, Call-ID, From, To and CSeq number. */
const cancelOf = (inv: string): string =>
  inv.replace(/^INVITE /, 'CANCEL ').replace('CSeq: 1 INVITE', 'CSeq: 1 CANCEL').replace(/Contact: [^\r]*\r\n/, '');

const statuses = (rs: SipResponse[], method: string) => rs.filter((r) => r.cseq().method === method).map((r) => r.status);

describe('CANCEL from the INVITE\'s flow only', () => {
  it('a copied CANCEL from another port or address gets 481 and the call rings on; the caller\'s own CANCEL then ends it', async () => {
    const uas = await ringingUas(true);
    const alice = await peer('127.0.0.1');
    const samehost = await peer('127.0.0.1');
    const elsewhere = await peer('127.0.0.2');
    const inv = invite(alice.port, 'z9hG4bKcf1');
    alice.send(inv, uas.port);
    await until(() => statuses(alice.got, 'INVITE').includes(180));
    for (const atk of [samehost, elsewhere]) {
      atk.send(cancelOf(inv), uas.port);
      await until(() => atk.got.length > 0);
      expect(statuses(atk.got, 'CANCEL')).toEqual([481]);
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(uas.cancels).toEqual([]);
    expect(statuses(alice.got, 'INVITE')).not.toContain(487);
    expect(uas.stack.stats().cancelsFromOtherFlow).toBe(2);
    // the refused copies left nothing behind that would swallow the real CANCEL as a retransmission
    alice.send(cancelOf(inv), uas.port);
    await until(() => statuses(alice.got, 'INVITE').includes(487));
    expect(statuses(alice.got, 'CANCEL')).toEqual([200]);
    expect(uas.cancels).toEqual(['call-z9hG4bKcf1']);
    // nothing went to the attackers but their own 481s
    expect(samehost.got.map((r) => r.status)).toEqual([481]);
    expect(elsewhere.got.map((r) => r.status)).toEqual([481]);
  });

  it('without the option a CANCEL matches by branch and sent-by, as RFC 3261 §9.2 says (the softswitch\'s side)', async () => {
    const uas = await ringingUas(false);
    const alice = await peer('127.0.0.1');
    const other = await peer('127.0.0.1');
    const inv = invite(alice.port, 'z9hG4bKcf2');
    alice.send(inv, uas.port);
    await until(() => statuses(alice.got, 'INVITE').includes(180));
    other.send(cancelOf(inv), uas.port);
    await until(() => statuses(alice.got, 'INVITE').includes(487));
    expect(statuses(other.got, 'CANCEL')).toEqual([200]);
  });
});
