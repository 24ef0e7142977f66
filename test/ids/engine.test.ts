/**
 * The engine on its own, with the shipped rules and a hand clock: each rule
 * type fires, blocks are per flow first and expire, a NAT is not banned, an
 * identity's owner keeps working while its guesser is blocked.
 */
import { describe, expect, it } from 'vitest';
import { IdsEngine } from '../../src/ids/engine.js';
import { loadRuleFile } from '../../src/ids/load.js';
import { compileRules } from '../../src/ids/rules.js';
import { shippedRules } from '../../src/ids/service.js';
import type { Detection, IdsEvent, IdsOutcome } from '../../src/ids/types.js';

function setup(rulesXml?: string) {
  let t = 1_000_000;
  const detections: Detection[] = [];
  const ids = new IdsEngine({ rules: rulesXml ? compileRules(rulesXml) : loadRuleFile(shippedRules()), now: () => t, onDetection: (d) => detections.push(d) });
  return { ids, detections, advance: (ms: number) => (t += ms), now: () => t };
}

const sip = (address: string, port: number, more: Partial<IdsEvent> = {}): IdsEvent => ({ protocol: 'sip', transport: 'udp', address, port, method: 'REGISTER', ...more });
const auth = (kind: IdsOutcome['kind'], address: string, port: number, identity: string, more: Partial<IdsOutcome> = {}): IdsOutcome => ({ kind, protocol: 'sip', transport: 'udp', address, port, identity, mechanism: 'digest', method: 'REGISTER', ...more });

describe('ids engine with the shipped rules', () => {
  it('scanner signature: friendly-scanner is dropped and its flow blocked, the same address on another port is not', () => {
    const { ids, detections } = setup();
    expect(ids.inspect(sip('192.0.2.9', 5060, { method: 'OPTIONS', userAgent: 'friendly-scanner' })).kind).toBe('drop');
    expect(detections[0]).toMatchObject({ rule: 'scanner signature', type: 'scanner-signature', block: { target: '192.0.2.9:5060', scope: 'flow' } });
    expect(ids.inspect(sip('192.0.2.9', 5060, { userAgent: 'Linphone' })).kind).toBe('drop');
    expect(ids.inspect(sip('192.0.2.9', 5061, { userAgent: 'Linphone' })).kind).toBe('pass');
  });

  it('flood from a stranger: the flow is blocked after 200 in a second; a flow that authenticated is only throttled much later', () => {
    const { ids, detections } = setup();
    let first = -1;
    for (let i = 0; i < 300; i++) if (ids.inspect(sip('198.51.100.1', 4000)).kind !== 'pass' && first < 0) first = i;
    expect(first).toBe(199);
    expect(detections.map((d) => d.rule)).toEqual(['flood from a stranger']);
    ids.outcome(auth('auth-success', '198.51.100.2', 4000, 'alice@lab.example'));
    for (let i = 0; i < 1000; i++) expect(ids.inspect(sip('198.51.100.2', 4000)).kind).toBe('pass');
  });

  it('INVITE flooding per flow, with the sip-method of the issue', () => {
    const { ids, detections } = setup();
    const v = [];
    for (let i = 0; i < 101; i++) v.push(ids.inspect(sip('198.51.100.3', 4000, { method: 'INVITE' })).kind);
    expect(v.indexOf('drop')).toBe(99);
    expect(detections[0]!.rule).toBe('INVITE flooding');
  });

  it('flood per address only throttles: no block, the flows of a NAT are not banned', () => {
    const { ids, detections } = setup();
    // 40,000 messages in one second from 100 authenticated flows of one address
    for (let p = 0; p < 100; p++) ids.outcome(auth('auth-success', '203.0.113.50', 10_000 + p, `u${p}@lab.example`));
    let dropped = 0;
    for (let i = 0; i < 40_100; i++) if (ids.inspect(sip('203.0.113.50', 10_000 + (i % 100))).kind === 'drop') dropped++;
    expect(dropped).toBeGreaterThan(0);
    expect(detections.every((d) => d.rule === 'flood per address' && d.block === undefined)).toBe(true);
    expect(ids.blocks()).toEqual([]);
  });

  it('a 401 challenge is not a failure; three wrong answers block the flow, not the address', () => {
    const { ids, detections } = setup();
    for (let i = 0; i < 10; i++) ids.inspect(sip('192.0.2.20', 5070)); // challenged REGISTERs: no outcome at all
    expect(detections).toEqual([]);
    for (let i = 0; i < 3; i++) ids.outcome(auth('auth-failure', '192.0.2.20', 5070, 'bob@lab.example'));
    expect(detections.map((d) => d.rule)).toContain('guessing from a flow');
    expect(ids.inspect(sip('192.0.2.20', 5070)).kind).toBe('drop');
    expect(ids.inspect(sip('192.0.2.20', 5071, { identity: 'carol@lab.example' })).kind).toBe('pass');
  });

  it('guessing against an identity: strangers are refused, the owner from a source with a good record is not', () => {
    const { ids } = setup();
    ids.outcome(auth('auth-success', '192.0.2.30', 5060, 'bob@lab.example'));
    // the attacker guesses from three sources
    for (let i = 0; i < 3; i++) ids.outcome(auth('auth-failure', `198.51.100.${40 + i}`, 6000, 'bob@lab.example'));
    expect(ids.blocks().map((b) => b.target)).toContain('id:bob@lab.example');
    expect(ids.inspect(sip('198.51.100.99', 6000, { identity: 'bob@lab.example' })).kind).toBe('drop');
    // the owner, from its address, on a new port after a restart
    expect(ids.inspect(sip('192.0.2.30', 5999, { identity: 'Bob@LAB.example' })).kind).toBe('pass');
    // and an identity authenticated by its transport passes anywhere
    expect(ids.inspect(sip('198.51.100.99', 6001, { identity: 'bob@lab.example', authenticated: 'bob@lab.example' })).kind).toBe('pass');
  });

  it('scan: ten distinct identities from one flow with no success block it', () => {
    const { ids, detections } = setup();
    const v = [];
    for (let i = 0; i < 11; i++) v.push(ids.inspect(sip('192.0.2.40', 5060, { identity: `${100 + i}@lab.example` })).kind);
    expect(v.indexOf('drop')).toBe(9);
    expect(detections[0]).toMatchObject({ rule: 'extension scan', type: 'scan' });
    // a PBX (which authenticated) sending OPTIONS for 2,000 extensions is not a scan
    ids.outcome(auth('auth-success', '192.0.2.41', 5060, 'pbx@lab.example'));
    for (let i = 0; i < 2000; i++) expect(ids.inspect(sip('192.0.2.41', 5060, { method: 'OPTIONS', identity: `${i}@lab.example` })).kind).toBe('pass');
  });

  it('injection in a Digest username is answered 403 and the flow blocked', () => {
    const { ids, detections } = setup();
    const v = ids.inspect(sip('192.0.2.50', 5060, { fields: { username: "Bob';drop table films;' ", realm: 'lab.example' } }));
    expect(v).toMatchObject({ kind: 'reject', status: 403, rule: 'SQL or script injection' });
    expect(detections[0]!.type).toBe('injection');
    expect(ids.inspect(sip('192.0.2.50', 5060, { fields: { username: 'bob' } })).kind).toBe('drop');
    expect(ids.inspect(sip('192.0.2.51', 5060, { fields: { username: "o'brien", uri: 'sip:lab.example' } })).kind).toBe('pass');
  });

  it('malformed: twenty in a minute from one flow', () => {
    const { ids, detections } = setup();
    for (let i = 0; i < 19; i++) ids.inspect(sip('192.0.2.60', 5060, { malformed: 'bad start line' }));
    expect(detections).toEqual([]);
    expect(ids.inspect(sip('192.0.2.60', 5060, { malformed: 'bad start line' })).kind).toBe('drop');
    expect(detections[0]!.type).toBe('malformed');
  });

  it('dialog: five foreign in-dialog requests block the flow only', () => {
    const { ids, detections } = setup();
    for (let i = 0; i < 5; i++) ids.outcome({ kind: 'dialog-violation', protocol: 'sip', transport: 'udp', address: '192.0.2.70', port: 5060, method: 'BYE' });
    expect(detections[0]).toMatchObject({ type: 'dialog', block: { target: '192.0.2.70:5060', scope: 'flow' } });
    expect(ids.inspect(sip('192.0.2.70', 5061)).kind).toBe('pass');
  });

  it('escalation: three blocked flows of an address where nobody authenticated block the address; with a good record they do not', () => {
    const a = setup();
    for (let p = 0; p < 3; p++) a.ids.inspect(sip('198.51.100.80', 7000 + p, { userAgent: 'friendly-scanner' }));
    expect(a.ids.blocks().map((b) => b.target)).toContain('198.51.100.80');
    expect(a.ids.inspect(sip('198.51.100.80', 7999)).kind).toBe('drop');
    const b = setup();
    b.ids.outcome(auth('auth-success', '198.51.100.81', 6000, 'alice@lab.example'));
    for (let p = 0; p < 10; p++) b.ids.inspect(sip('198.51.100.81', 7000 + p, { userAgent: 'friendly-scanner' }));
    expect(b.ids.blocks().every((x) => x.scope === 'flow')).toBe(true);
    expect(b.ids.inspect(sip('198.51.100.81', 6000)).kind).toBe('pass');
    expect(b.ids.inspect(sip('198.51.100.81', 7999)).kind).toBe('pass');
  });

  it('a terminal that authenticated from a blocked address keeps working', () => {
    const { ids } = setup();
    ids.block('203.0.113.7', 'address', 60, 'operator test');
    ids.outcome(auth('auth-success', '203.0.113.7', 5060, 'alice@lab.example'));
    expect(ids.inspect(sip('203.0.113.7', 5060)).kind).toBe('pass');
    expect(ids.inspect(sip('203.0.113.7', 5061)).kind).toBe('drop');
  });

  it('NAT: 200 terminals re-register at once from one address (challenge, answer, success); none is blocked', () => {
    const { ids, detections } = setup();
    for (let i = 0; i < 200; i++) expect(ids.inspect(sip('203.0.113.200', 20_000 + i, { identity: `t${i}@lab.example` })).kind).toBe('pass');
    for (let i = 0; i < 200; i++) {
      expect(ids.inspect(sip('203.0.113.200', 20_000 + i, { identity: `t${i}@lab.example`, fields: { username: `t${i}@lab.example` } })).kind).toBe('pass');
      ids.outcome(auth('auth-success', '203.0.113.200', 20_000 + i, `t${i}@lab.example`));
    }
    expect(detections).toEqual([]);
    expect(ids.blocks()).toEqual([]);
  });

  it('every block expires; unblock lifts one at once', () => {
    const { ids, advance } = setup();
    ids.inspect(sip('192.0.2.90', 5060, { userAgent: 'sipcli/v1' }));
    expect(ids.isBlocked('192.0.2.90', 5060)).toBe(true);
    advance(3600_000 + 1);
    expect(ids.isBlocked('192.0.2.90', 5060)).toBe(false);
    ids.inspect(sip('192.0.2.90', 5060, { userAgent: 'sipcli/v1' }));
    expect(ids.unblock('192.0.2.90:5060')).toBe(true);
    expect(ids.inspect(sip('192.0.2.90', 5060)).kind).toBe('pass');
  });

  it('memory stays bounded: 100,000 sources leave at most the cap of partners', () => {
    let t = 0;
    const ids = new IdsEngine({ rules: loadRuleFile(shippedRules()), now: () => t++, maxFlows: 1000, maxAddresses: 500, maxIdentities: 500 });
    for (let i = 0; i < 100_000; i++) ids.inspect(sip(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 1024 + (i % 60000), { method: 'INVITE', identity: `${i}@x` }));
    const s = ids.sizes();
    expect(s.flows).toBeLessThanOrEqual(1000);
    expect(s.addresses).toBeLessThanOrEqual(500);
  });

  it('rule counts and partners are listed for operators', () => {
    const { ids } = setup();
    ids.inspect(sip('192.0.2.95', 5060, { userAgent: 'friendly-scanner' }));
    const c = ids.ruleCounts().find((r) => r.name === 'scanner signature')!;
    expect(c).toMatchObject({ matched: 1, fired: 1, blocked: 1 });
    expect(ids.partners().map((p) => p.key)).toContain('192.0.2.95:5060');
  });

  it('white-list: an authenticated identity or a trusted link, not a claimed identity', () => {
    const { ids } = setup(`<ids-rules><rule name="s" type="scanner-signature"><user-agent>bad</user-agent>
      <white-list><identity>trunk@lab.example</identity><link>carrier1</link></white-list>
      <action type="block" seconds="60"/></rule></ids-rules>`);
    expect(ids.inspect(sip('192.0.2.1', 1, { userAgent: 'bad', authenticated: 'trunk@lab.example' })).kind).toBe('pass');
    expect(ids.inspect(sip('192.0.2.1', 2, { userAgent: 'bad', link: 'carrier1' })).kind).toBe('pass');
    expect(ids.inspect(sip('192.0.2.1', 3, { userAgent: 'bad', identity: 'trunk@lab.example' })).kind).toBe('drop');
  });
});
