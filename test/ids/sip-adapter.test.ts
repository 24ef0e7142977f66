/**
 * The SIP side of the intrusion detection: a challenge is never a failure,
 * a wrong answer to one is, a success counts in the source's favour; one
 * credentialed REGISTER in flight per flow (a retransmission is not another);
 * a refused in-dialog request is a dialog violation; injection in a Digest
 * username is answered 403. Real SIP bytes through the adapter and the
 * engine with the shipped rules.
 */
import { describe, expect, it } from 'vitest';
import { SipIds } from '../../src/adapters/sip/ids.js';
import { IdsEngine } from '../../src/ids/engine.js';
import { loadRuleFile } from '../../src/ids/load.js';
import { shippedRules } from '../../src/ids/service.js';
import type { IdsOutcome } from '../../src/ids/types.js';
import { parseMessage, type MessageSource } from '../../src/sip/index.js';

const src = (port: number, address = '192.0.2.10') => ({ protocol: 'udp', address, port, transport: undefined }) as unknown as MessageSource;

function register(o: { callId?: string; cseq?: number; auth?: string; user?: string; method?: string; toTag?: string }): Buffer {
  const user = o.user ?? 'alice';
  const method = o.method ?? 'REGISTER';
  return Buffer.from(
    `${method} sip:lab.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK${Math.random().toString(36).slice(2)}\r\nMax-Forwards: 70\r\n` +
      `From: <sip:${user}@lab.example>;tag=f1\r\nTo: <sip:${user}@lab.example>${o.toTag ? `;tag=${o.toTag}` : ''}\r\nCall-ID: ${o.callId ?? 'c1'}\r\nCSeq: ${o.cseq ?? 1} ${method}\r\n` +
      `${o.auth ? `Authorization: ${o.auth}\r\n` : ''}Content-Length: 0\r\n\r\n`,
  );
}
const answer = (status: number, cseq: number, method = 'REGISTER', extra = '') =>
  Buffer.from(`SIP/2.0 ${status} X\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKx\r\nFrom: <sip:a@lab.example>;tag=f1\r\nTo: <sip:a@lab.example>;tag=t\r\nCall-ID: c1\r\nCSeq: ${cseq} ${method}\r\n${extra}Content-Length: 0\r\n\r\n`);
const digest = (user = 'alice') => `Digest username="${user}", realm="lab.example", nonce="n", uri="sip:lab.example", response="00112233445566778899aabbccddeeff"`;

function setup() {
  const outcomes: IdsOutcome[] = [];
  const engine = new IdsEngine({ rules: loadRuleFile(shippedRules()) });
  const sink = { inspect: engine.inspect.bind(engine), outcome: (o: IdsOutcome) => (outcomes.push(o), engine.outcome(o)), isBlocked: engine.isBlocked.bind(engine), goodFlow: engine.goodFlow.bind(engine) };
  return { ids: new SipIds(sink), engine, outcomes };
}
const dest = (port: number) => ({ address: '192.0.2.10', port });

describe('SIP adapter of the intrusion detection', () => {
  it('a 401 to a REGISTER without credentials is nothing; a 401 to one with them is a failure; stale=true is not; 200 is a success', () => {
    const { ids, outcomes } = setup();
    for (let i = 1; i <= 20; i++) {
      expect(ids.inbound(parseMessage(register({ cseq: i, callId: `c${i}` })), src(5060))?.kind).toBe('pass');
      ids.outbound(answer(401, i), dest(5060), 'udp');
    }
    expect(outcomes).toEqual([]);
    ids.inbound(parseMessage(register({ cseq: 2, auth: digest() })), src(5061));
    ids.outbound(answer(401, 2, 'REGISTER', 'WWW-Authenticate: Digest realm="lab.example", nonce="m", stale=true\r\n'), dest(5061), 'udp');
    expect(outcomes).toEqual([]);
    ids.inbound(parseMessage(register({ cseq: 3, auth: digest() })), src(5061));
    ids.outbound(answer(401, 3), dest(5061), 'udp');
    expect(outcomes).toMatchObject([{ kind: 'auth-failure', identity: 'alice@lab.example', mechanism: 'digest', port: 5061 }]);
    ids.inbound(parseMessage(register({ cseq: 4, auth: digest() })), src(5061));
    ids.outbound(answer(200, 4), dest(5061), 'udp');
    expect(outcomes[1]).toMatchObject({ kind: 'auth-success', identity: 'alice@lab.example' });
  });

  it('a flood of unanswered credentialed flows fills its tables to their bound; the oldest are forgotten, a phone after them is still judged', () => {
    const outcomes: IdsOutcome[] = [];
    const engine = new IdsEngine({ rules: loadRuleFile(shippedRules()) });
    const sink = { inspect: () => ({ kind: 'pass' as const }), outcome: (o: IdsOutcome) => void outcomes.push(o), isBlocked: engine.isBlocked.bind(engine), goodFlow: () => false };
    const ids = new SipIds(sink as never, 64);
    for (let i = 0; i < 1000; i++) ids.inbound(parseMessage(register({ cseq: 1, auth: digest(`flood${i}`), user: `flood${i}` })), src(10_000 + i, '198.51.100.7'));
    ids.inbound(parseMessage(register({ cseq: 7, auth: digest() })), src(5070));
    // the first flood flows were dropped to make room: their answers count for nothing
    for (let i = 0; i < 10; i++) ids.outbound(answer(401, 1), { address: '198.51.100.7', port: 10_000 + i }, 'udp');
    expect(outcomes).toEqual([]);
    ids.outbound(answer(401, 7), dest(5070), 'udp');
    expect(outcomes).toMatchObject([{ kind: 'auth-failure', identity: 'alice@lab.example', port: 5070 }]);
  });

  it('KS1: the s7 (with response) is counted, the s1 is not', () => {
    const { ids, outcomes } = setup();
    ids.inbound(parseMessage(register({ cseq: 1, auth: 'KS1 username="alice@lab.example", realm="sbc1.lab.example", n1="x", ts="1"' })), src(6000));
    ids.outbound(answer(401, 1), dest(6000), 'udp');
    ids.inbound(parseMessage(register({ cseq: 2, auth: 'KS1 username="alice@lab.example", realm="sbc1.lab.example", nonce="r", response="abc"' })), src(6000));
    ids.outbound(answer(401, 2), dest(6000), 'udp');
    expect(outcomes).toMatchObject([{ kind: 'auth-failure', mechanism: 'ks1' }]);
  });

  it('one credentialed REGISTER in flight per flow: another guess waits (dropped), a retransmission passes', () => {
    const { ids } = setup();
    expect(ids.inbound(parseMessage(register({ cseq: 2, callId: 'g1', auth: digest() })), src(7000))?.kind).toBe('pass');
    expect(ids.inbound(parseMessage(register({ cseq: 2, callId: 'g1', auth: digest() })), src(7000))?.kind).toBe('pass');
    expect(ids.inbound(parseMessage(register({ cseq: 2, callId: 'g2', auth: digest() })), src(7000))).toMatchObject({ kind: 'drop', rule: 'guessing throttle' });
    // and per identity, from another flow
    expect(ids.inbound(parseMessage(register({ cseq: 2, callId: 'g3', auth: digest() })), src(7001))).toMatchObject({ kind: 'drop' });
    expect(ids.inbound(parseMessage(register({ cseq: 2, callId: 'g4', auth: digest('bob'), user: 'bob' })), src(7002))?.kind).toBe('pass');
  });

  it('a pipelining guesser is blocked after three failures, and its later guesses never reach the core', () => {
    const { ids, engine } = setup();
    let passed = 0;
    for (let i = 0; i < 200; i++) {
      const v = ids.inbound(parseMessage(register({ cseq: 2, callId: `p${i}`, auth: digest() })), src(7100));
      if (v?.kind === 'pass') {
        passed++;
        ids.outbound(answer(401, 2), dest(7100), 'udp');
      }
    }
    expect(passed).toBe(3);
    expect(engine.isBlocked('192.0.2.10', 7100)).toBe(true);
  });

  it('a 403 or 481 to an in-dialog request is a dialog violation; five block the flow', () => {
    const { ids, outcomes, engine } = setup();
    for (let i = 0; i < 5; i++) {
      ids.inbound(parseMessage(register({ method: 'BYE', cseq: 10 + i, callId: `d${i}`, toTag: 'x' })), src(8000));
      ids.outbound(answer(403, 10 + i, 'BYE'), dest(8000), 'udp');
    }
    expect(outcomes.filter((o) => o.kind === 'dialog-violation')).toHaveLength(5);
    expect(engine.isBlocked('192.0.2.10', 8000)).toBe(true);
    expect(engine.isBlocked('192.0.2.10', 8001)).toBe(false);
  });

  it("Digest username=\"Bob';drop table films;' \" is answered 403", () => {
    const { ids } = setup();
    const v = ids.inbound(parseMessage(register({ cseq: 2, auth: `Digest username="Bob';drop table films;' ", realm="lab.example", nonce="n", uri="sip:lab.example", response="0"` })), src(9000));
    expect(v).toMatchObject({ kind: 'reject', status: 403, rule: 'SQL or script injection' });
  });

  it('script in a Digest username is answered 403 too, and the flow is then blocked; another flow of the address is read', () => {
    const { ids, engine } = setup();
    const v = ids.inbound(parseMessage(register({ cseq: 2, auth: `Digest username="<script>alert(1)</script>", realm="lab.example", nonce="n", uri="sip:lab.example", response="0"` })), src(9001));
    expect(v).toMatchObject({ kind: 'reject', status: 403, rule: 'SQL or script injection' });
    expect(engine.isBlocked('192.0.2.10', 9001)).toBe(true);
    expect(engine.isBlocked('192.0.2.10', 9002)).toBe(false);
  });

  it('malformed input reaches the malformed rule', () => {
    const { ids } = setup();
    let last;
    for (let i = 0; i < 20; i++) last = ids.inbound(parseMessage(Buffer.from('GARBAGE\r\n\r\n')), src(9100));
    expect(last).toMatchObject({ kind: 'drop', rule: 'malformed messages' });
  });
});
