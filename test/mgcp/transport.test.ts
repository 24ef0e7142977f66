import { afterEach, describe, expect, it } from 'vitest';
import { MgcpTransport, type MgcpReply } from '../../src/mgcp/transport.js';
import { param, type MgcpCommand } from '../../src/mgcp/types.js';
import { exchange } from './udp.js';

const open: MgcpTransport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
}

async function endpoint(onCommand: (cmd: MgcpCommand) => MgcpReply | Promise<MgcpReply>, timers = {}): Promise<MgcpTransport> {
  const t = await MgcpTransport.open({ host: '127.0.0.1', port: 0, onCommand, initialRtoMs: 30, maxRtoMs: 120, maxAttempts: 4, ...timers });
  open.push(t);
  return t;
}

describe('MGCP UDP transport', () => {
  it('answers a duplicate command from the response cache without running the handler again', async () => {
    let calls = 0;
    const t = await endpoint(() => ({ code: 200, params: [param('I', String(++calls))] }));
    const cmd = Buffer.from('AUEP 500 aaln/1@gw MGCP 1.0\nF: A\n');
    const a = await exchange(t.port, cmd, 100);
    expect(a).toEqual(['200 500 OK\nI: 1\n']);
    const b = await exchange(t.port, cmd, 100);
    // Another source, same tid: a different transaction.
    expect(b).toEqual(['200 500 OK\nI: 2\n']);
    expect(calls).toBe(2);
    const s = await MgcpTransport.open({ host: '127.0.0.1', port: 0, onCommand: () => ({ code: 200 }) });
    open.push(s);
    s.sendRaw(cmd, { host: '127.0.0.1', port: t.port });
    s.sendRaw(cmd, { host: '127.0.0.1', port: t.port });
    await new Promise((r) => setTimeout(r, 100));
    expect(calls).toBe(3);
    expect(t.stats().duplicates).toBe(1);
  });

  it('retransmits with back-off and gives up after the last attempt', async () => {
    const deaf = await endpoint(() => new Promise<MgcpReply>(() => {}), { provisionalAfterMs: 60_000 });
    const client = await endpoint(() => ({ code: 200 }));
    const r = await client.send({ host: '127.0.0.1', port: deaf.port }, { verb: 'AUEP', endpoint: 'a@gw', version: '1.0', params: [] });
    expect(r).toEqual({ ok: false, error: 'timeout' });
    expect(client.stats().retransmissions).toBe(3);
    expect(deaf.stats().commandsIn).toBe(4);
    expect(deaf.stats().duplicates).toBe(3);
  });

  it('sends 100 when the handler is slow, then the final with K: until the 000 arrives', async () => {
    const slow = await endpoint(async () => {
      await new Promise((r) => setTimeout(r, 150));
      return { code: 250 };
    }, { provisionalAfterMs: 20, initialRtoMs: 1000 });
    // no retransmission either way within the test (a loaded machine would repeat the 100 or the 000)
    const client = await endpoint(() => ({ code: 200 }), { initialRtoMs: 1000 });
    const r = await client.send({ host: '127.0.0.1', port: slow.port }, { verb: 'DLCX', endpoint: 'a@gw', version: '1.0', params: [param('C', 'A3C47F21456789F0')] });
    expect(r.ok && r.response.code).toBe(250);
    expect(r.ok && r.response.params.map((p) => p.name)).toEqual(['K']);
    await new Promise((res) => setTimeout(res, 50));
    expect(client.stats()).toMatchObject({ provisionalIn: 1, responseAcksSent: 1 });
    expect(slow.stats()).toMatchObject({ provisionalSent: 1, responseAcksIn: 1 });
  });

  it('confirms answered transactions with K: on the next command, and the peer drops them from its cache', async () => {
    const server = await endpoint(() => ({ code: 200 }));
    const client = await endpoint(() => ({ code: 200 }));
    const to = { host: '127.0.0.1', port: server.port };
    const cmd = { verb: 'RQNT', endpoint: 'a@gw', version: '1.0', params: [param('X', '1')] };
    await client.send(to, cmd);
    expect(server.stats().cachedResponses).toBe(1);
    // The second command carries K: <first tid>: the first response leaves the cache, the second enters it.
    await client.send(to, cmd);
    expect(server.stats().cachedResponses).toBe(1);
    expect(server.stats().commandsIn).toBe(2);
  });

  it('answers a malformed command it can identify with 510 and drops the rest', async () => {
    const t = await endpoint(() => ({ code: 200 }));
    expect(await exchange(t.port, Buffer.from('RQNT 61 a@gw MGCP 1.0\nthis is not a parameter\n'), 100)).toEqual(['510 61 Protocol error: bad parameter line\n']);
    expect(await exchange(t.port, Buffer.from('\x00\x01garbage'), 100)).toEqual([]);
    expect(await exchange(t.port, Buffer.from('200 999 OK\n'), 100)).toEqual([]);
    expect(t.stats()).toMatchObject({ parseErrors: 2, unmatched: 1 });
  });

  it('a handler that throws becomes 400, not a crash', async () => {
    const t = await endpoint(() => {
      throw new Error('boom');
    });
    expect(await exchange(t.port, Buffer.from('AUEP 7 a@gw MGCP 1.0\n'), 100)).toEqual(['400 7 Transient error\n']);
    expect(t.stats().handlerErrors).toBe(1);
  });

  it('piggy-backs the messages written to one peer in the same turn into one datagram, within 16 messages, and each is answered', async () => {
    const slowRto = { initialRtoMs: 2000 }; // no retransmission on a loaded machine: the counts are of first sends
    const server = await endpoint(() => ({ code: 200 }), slowRto);
    const to = { host: '127.0.0.1', port: server.port };
    const auep = (i: number) => ({ verb: 'AUEP', endpoint: `aaln/${i}@gw`, version: '1.0', params: [param('F', 'A')] });
    const client = await endpoint(() => ({ code: 200 }), slowRto);
    const three = await Promise.all([1, 2, 3].map((i) => client.send(to, auep(i))));
    expect(three.map((r) => r.ok && r.response.code)).toEqual([200, 200, 200]);
    expect(client.stats()).toMatchObject({ datagramsOut: 1, datagramsIn: 1, responsesIn: 3 }); // the answers came back together too
    expect(server.stats()).toMatchObject({ datagramsIn: 1, commandsIn: 3, datagramsOut: 1 });
    const twenty = await Promise.all(Array.from({ length: 20 }, (_, i) => client.send(to, auep(i))));
    expect(twenty.every((r) => r.ok && r.response.code === 200)).toBe(true);
    expect(client.stats().datagramsOut).toBe(1 + 2);

    const alone = await endpoint(() => ({ code: 200 }), { ...slowRto, piggyback: false });
    await Promise.all([1, 2, 3].map((i) => alone.send(to, auep(i))));
    expect(alone.stats().datagramsOut).toBe(3);
  });

  it('an answer to a forged source port 0 is dropped, not a crash, and the transport still serves others', async () => {
    const t = await endpoint(() => ({ code: 200 }));
    t.sendRaw(Buffer.from('200 1 OK\n'), { host: '127.0.0.1', port: 0 }); // what answering a datagram from port 0 does
    expect(await exchange(t.port, Buffer.from('AUEP 9 a@gw MGCP 1.0\n'), 100)).toEqual(['200 9 OK\n']);
  });

  it('drops answered responses once their time is past on every open transport, passing over a command still in progress', async () => {
    let release!: () => void;
    const held = new Promise<MgcpReply>((r) => (release = () => r({ code: 200 })));
    const shortA = await endpoint((cmd) => (cmd.verb === 'DLCX' ? held : { code: 200 }), { responseCacheMs: 100, provisionalAfterMs: 60_000 });
    const shortB = await endpoint(() => ({ code: 200 }), { responseCacheMs: 100 });
    const long = await endpoint(() => ({ code: 200 }));
    const client = await endpoint(() => ({ code: 200 }), { maxAttempts: 1 });
    const cmd = (verb: string) => ({ verb, endpoint: 'a@gw', version: '1.0', params: [param('K', '')] }); // an empty K: confirms nothing
    const slow = client.send({ host: '127.0.0.1', port: shortA.port }, cmd('DLCX')); // first in shortA's cache, never answered in time
    for (const server of [shortA, shortB, long]) {
      expect((await client.send({ host: '127.0.0.1', port: server.port }, cmd('AUEP'))).ok).toBe(true);
      expect((await client.send({ host: '127.0.0.1', port: server.port }, cmd('AUEP'))).ok).toBe(true);
    }
    expect([shortA, shortB, long].map((t) => t.stats().cachedResponses)).toEqual([3, 2, 2]);
    await shortB.close(); // a closed transport leaves the others swept
    await until(() => shortA.stats().cachedResponses === 1);
    expect(shortA.stats().cachedResponses).toBe(1); // the command in progress stays, so a repeat is not run twice
    expect(long.stats().cachedResponses).toBe(2); // kept for its 30 s
    release();
    expect(await slow).toEqual({ ok: false, error: 'timeout' }); // the client gave up long ago; the answer is cached all the same
    await until(() => shortA.stats().cachedResponses === 0);
    expect(shortA.stats().cachedResponses).toBe(0);
  });

  it('drops the K: ids of a peer no command went to within ackHoldMs, and keeps the others', async () => {
    const servers = await Promise.all([1, 2, 3].map(() => endpoint(() => ({ code: 200 }))));
    const quick = await endpoint(() => ({ code: 200 }), { ackHoldMs: 100 });
    const patient = await endpoint(() => ({ code: 200 }));
    for (const client of [quick, patient]) {
      for (const s of servers) expect((await client.send({ host: '127.0.0.1', port: s.port }, { verb: 'AUEP', endpoint: 'a@gw', version: '1.0', params: [] })).ok).toBe(true);
      expect(client.stats().pendingAcks).toBe(3);
    }
    await until(() => quick.stats().pendingAcks === 0);
    expect(quick.stats().pendingAcks).toBe(0); // one gateway each, gone after registering: nothing would ever carry them
    expect(patient.stats().pendingAcks).toBe(3);
    // and a command within the hold still carries them: the peer drops its response at once
    expect((await patient.send({ host: '127.0.0.1', port: servers[0]!.port }, { verb: 'AUEP', endpoint: 'a@gw', version: '1.0', params: [] })).ok).toBe(true);
    expect(servers[0]!.stats().cachedResponses).toBe(2); // quick's (never confirmed) and patient's second (its first confirmed)
    expect(patient.stats().pendingAcks).toBe(3);
  });

  it('holds K: ids for at most maxAckPeers peers when ever-new ports answer its commands; a gateway held before is still confirmed, one after is still served', async () => {
    const CAP = 8;
    const sbc = await endpoint(() => ({ code: 200 }), { maxAckPeers: CAP });
    const auep = { verb: 'AUEP', endpoint: 'aaln/1@gw', version: '1.0', params: [] };
    const toGateway: string[] = [];
    const gateway = await endpoint(() => ({ code: 200 }), { onPacket: (dir: 'in' | 'out', data: Buffer) => dir === 'in' && toGateway.push(data.toString()) });
    const first = await sbc.send({ host: '127.0.0.1', port: gateway.port }, auep);
    expect(first.ok).toBe(true);
    let most = 0;
    for (let i = 0; i < CAP + 4; i++) {
      const attacker = await endpoint(() => ({ code: 200 }));
      expect((await sbc.send({ host: '127.0.0.1', port: attacker.port }, auep)).ok).toBe(true);
      most = Math.max(most, sbc.stats().pendingAcks);
    }
    expect(most).toBe(CAP);
    // the gateway answered before them still gets its K: on the next command, and drops the response it kept
    expect((await sbc.send({ host: '127.0.0.1', port: gateway.port }, auep)).ok).toBe(true);
    expect(toGateway.at(-1)).toMatch(/\nK: \d+\n/);
    expect(gateway.stats().cachedResponses).toBe(1);
    // one that comes after is answered and answers: only its K: is not kept (it keeps its responses their full time)
    const late = await endpoint(() => ({ code: 200 }));
    expect((await sbc.send({ host: '127.0.0.1', port: late.port }, auep)).ok).toBe(true);
    expect((await late.send({ host: '127.0.0.1', port: sbc.port }, auep)).ok).toBe(true);
    expect((await sbc.send({ host: '127.0.0.1', port: late.port }, auep)).ok).toBe(true);
    expect(late.stats().cachedResponses).toBe(2);
    expect(sbc.stats().pendingAcks).toBe(CAP);
  });
});
