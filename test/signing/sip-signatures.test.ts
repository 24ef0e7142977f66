import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PARAM } from '../../src/sbc/signing/sip-signatures.js';
import { flowParty } from '../../src/sbc/dialogs.js';
import { SignatureGuard } from '../../src/sbc/signing/guard.js';
import { signingFailureSink, SIGNING_METRICS } from '../../src/sbc/signing/metrics.js';
import { MetricsRegistry } from '../../src/metrics/registry.js';
import { parseMessage, serialize, type SipRequest, type SipResponse } from '../../src/sip/index.js';
import {
  A_CONTACT, B_CONTACT, bAnswers, call, Clock, inviteFromCore, makeSigner, PARTY_A, PARTY_B, req, requestFromA, requestFromB, res, sbcForwardsInvite, wire,
} from './flow.js';

/** Rewrites a message's text and parses it again (what an attacker or a sloppy peer sends). */
function edit<T extends SipRequest | SipResponse>(m: T, fn: (text: string) => string): T {
  const r = parseMessage(Buffer.from(fn(serialize(m).toString('latin1')), 'latin1'));
  if (!r.ok) throw new Error(r.error.reason);
  return r.message as T;
}

describe('a legitimate call', () => {
  it('signs the INVITE leaving on the untrusted link and verifies the answer', async () => {
    const clock = new Clock();
    const { signer } = await makeSigner(clock);
    const { inviteAtB, okAtLeg2, okAtA } = call(signer);

    const sbcVia = inviteAtB.topVia()!;
    expect(sbcVia.params[PARAM.via]).toMatch(/^[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{22}$/);
    const myRr = inviteAtB.recordRoutes()[0]!.uri as { params: Record<string, string | null> };
    expect(Object.keys(myRr.params).sort()).toEqual(['ks-pb', 'ks-rr', 'ks-rsb', 'lr']);

    expect(signer.verifyVia(okAtLeg2)).toMatchObject({ ok: true });
    expect(signer.verifyRecordRoute(okAtLeg2)).toMatchObject({ ok: true });
    // A 180 with the same Record-Route set passes too.
    expect(signer.verifyRecordRoute(bAnswers(inviteAtB, 180))).toMatchObject({ ok: true });

    // The caller's copy carries ks-rsa on the entry nearest to it (leg 1), leg 2's signatures untouched.
    const rrAtA = okAtA.recordRoutes().map((n) => Object.keys((n.uri as { params: object }).params).sort());
    expect(rrAtA).toEqual([['ks-pb', 'ks-rr', 'ks-rsb', 'lr'], ['ftag', 'lr'], ['ks-pa', 'ks-rsa', 'lr']]);
  });

  it('accepts in-dialog requests from both parties on their route sets', async () => {
    const { signer } = await makeSigner(new Clock());
    const { inviteAtB, okAtA } = call(signer);
    for (const m of ['BYE', 'INVITE', 'UPDATE', 'ACK', 'MESSAGE']) {
      expect(signer.verifyInDialogRequest(requestFromA(okAtA, m))).toMatchObject({ ok: true, side: 'caller' });
      expect(signer.verifyInDialogRequest(requestFromB(inviteAtB, 'b1', m))).toMatchObject({ ok: true, side: 'callee' });
    }
  });

  it('survives harmless re-serialisation: header case, compact forms, white space, folding, list layout, parameter order', async () => {
    const { signer } = await makeSigner(new Clock());
    const { inviteAtB, okAtLeg2, okAtA } = call(signer);

    const sloppyRes = edit(okAtLeg2, (t) => {
      const lines = t.split('\r\n');
      const vias = lines.filter((l) => /^Via:/i.test(l)).map((l) => l.replace(/^Via:\s*/i, ''));
      const rrs = lines.filter((l) => /^Record-Route:/i.test(l)).map((l) => l.replace(/^Record-Route:\s*/i, ''));
      const others = lines.filter((l) => !/^(Via|Record-Route):/i.test(l));
      // Vias below ours on one compact line with odd spacing and swapped parameters.
      const lower = vias.slice(1).map((v) => v.replace(/;branch=([^;]+);received=([^;]+)/, ' ; received=$2 ;BRANCH=$1'));
      const rrSwapped = rrs.map((r) => r.replace(/;lr;ftag=a1/, ';ftag=a1;LR').replace('sbc.example.net', 'SBC.Example.NET'));
      return [others[0], `v: ${vias[0]}`, `v:${lower.join(' ,\r\n   ')}`, `record-route: ${rrSwapped.join(' , ')}`, ...others.slice(1)].join('\r\n');
    });
    expect(sloppyRes.vias().length).toBe(okAtLeg2.vias().length);
    expect(signer.verifyVia(sloppyRes)).toMatchObject({ ok: true });
    expect(signer.verifyRecordRoute(sloppyRes)).toMatchObject({ ok: true });

    const bye = edit(requestFromA(okAtA), (t) => {
      const routes = t.split('\r\n').filter((l) => l.startsWith('Route:')).map((l) => l.slice(7));
      return t.split('\r\n').filter((l) => !l.startsWith('Route:')).join('\r\n').replace('Max-Forwards: 70', `Max-Forwards: 70\r\nROUTE:   ${routes.join(',')}`);
    });
    expect(bye.routes().length).toBe(3);
    expect(signer.verifyInDialogRequest(bye)).toMatchObject({ ok: true, side: 'caller' });
    expect(signer.verifyInDialogRequest(edit(requestFromB(inviteAtB), (t) => t.replace('sip:alice@192.0.2.10', 'sip:alice@192.0.2.10')))).toMatchObject({ ok: true });
  });
});

function rrOf(m: SipResponse): string {
  return (m.recordRoutes()[0]!.uri as { params: Record<string, string> }).params[PARAM.rr]!;
}

describe('attacks are refused', () => {
  it('a response whose Via list was altered: a loop, a redirect to a victim, a removed hop', async () => {
    const { signer } = await makeSigner(new Clock());
    const { okAtLeg2 } = call(signer);
    const loop = edit(okAtLeg2, (t) => t.replace(/(Via: SIP\/2.0\/UDP sbc[^\r]*\r\n)/, '$1Via: SIP/2.0/UDP sbc.example.net:5060;branch=z9hG4bKloop\r\n'));
    const victim = edit(okAtLeg2, (t) => t.replace('192.0.2.10:5062;rport=5062', '203.0.113.66:5062;rport=5062'));
    const removed = edit(okAtLeg2, (t) => t.replace(/Via: SIP\/2.0\/UDP 10.0.0.1:5060[^\r]*\r\n/, ''));
    const reordered = edit(okAtLeg2, (t) => {
      const l = t.split('\r\n');
      const i = l.findIndex((x) => x.includes('10.0.0.2:5060;branch'));
      [l[i], l[i + 1]] = [l[i + 1]!, l[i]!];
      return l.join('\r\n');
    });
    for (const m of [loop, victim, removed, reordered]) expect(signer.verifyVia(m)).toEqual({ ok: false, check: 'via', reason: 'mismatch' });
    // Bound to the transaction: another CSeq or Call-ID does not reuse it.
    expect(signer.verifyVia(edit(okAtLeg2, (t) => t.replace('CSeq: 1 INVITE', 'CSeq: 2 INVITE')))).toMatchObject({ ok: false, reason: 'mismatch' });
    expect(signer.verifyVia(edit(okAtLeg2, (t) => t.replace(/Call-ID: \S+/, 'Call-ID: other@x')))).toMatchObject({ ok: false, reason: 'mismatch' });
  });

  it('a missing, truncated or garbage Via signature', async () => {
    const { signer } = await makeSigner(new Clock());
    const { okAtLeg2 } = call(signer);
    const vs = okAtLeg2.topVia()!.params[PARAM.via]!;
    expect(signer.verifyVia(edit(okAtLeg2, (t) => t.replace(`;${PARAM.via}=${vs}`, '')))).toMatchObject({ ok: false, reason: 'missing' });
    expect(signer.verifyVia(edit(okAtLeg2, (t) => t.replace(vs, vs.slice(0, -3))))).toMatchObject({ ok: false, reason: 'malformed' });
    expect(signer.verifyVia(edit(okAtLeg2, (t) => t.replace(vs, 'garbage')))).toMatchObject({ ok: false, reason: 'malformed' });
    expect(signer.verifyVia(edit(okAtLeg2, (t) => t.replace(vs, 'AAAAAAAA.' + vs.split('.')[1])))).toMatchObject({ ok: false, reason: 'unknown-key' });
    const flipped = vs.slice(0, 9) + (vs[9] === 'A' ? 'B' : 'A') + vs.slice(10);
    expect(signer.verifyVia(edit(okAtLeg2, (t) => t.replace(vs, flipped)))).toMatchObject({ ok: false, reason: 'mismatch' });
  });

  it('a response whose Record-Route set was altered', async () => {
    const { signer } = await makeSigner(new Clock());
    const { okAtLeg2 } = call(signer);
    const dropped = edit(okAtLeg2, (t) => t.replace(/Record-Route: <sip:10\.0\.0\.2[^\r]*\r\n/, ''));
    const inserted = edit(okAtLeg2, (t) => t.replace(/(Record-Route: <sip:10\.0\.0\.2)/, 'Record-Route: <sip:evil.example;lr>\r\n$1'));
    const changed = edit(okAtLeg2, (t) => t.replace('ftag=a1', 'ftag=a2'));
    for (const m of [dropped, inserted, changed]) expect(signer.verifyRecordRoute(m)).toMatchObject({ ok: false, check: 'record-route', reason: 'mismatch' });
    const none = edit(okAtLeg2, (t) => t.replace(/Record-Route: [^\r]*\r\n/g, ''));
    expect(signer.verifyRecordRoute(none)).toMatchObject({ ok: false, reason: 'missing' });
    const onTop = edit(okAtLeg2, (t) => t.replace(/(Record-Route: )/, '$1<sip:evil.example;lr>, '));
    expect(signer.verifyRecordRoute(onTop)).toMatchObject({ ok: false, reason: 'missing' });
  });

  it('a forged BYE or re-INVITE from a third party, with its own dialog\'s valid signature', async () => {
    const { signer } = await makeSigner(new Clock());
    const victim = call(signer);
    // The attacker C has its own call to B through the same SBC and softswitch: identical hops.
    const own = call(signer, { callId: 'c-own@203.0.113.66', aTag: 'c1', aContact: 'sip:carol@203.0.113.66:5062;transport=udp', bContact: B_CONTACT });
    const stolenRoutes = requestFromA(own.okAtA).getAll('Route');
    expect(signer.verifyInDialogRequest(requestFromA(own.okAtA))).toMatchObject({ ok: true });
    for (const method of ['BYE', 'INVITE']) {
      const forged = edit(requestFromA(victim.okAtA, method), (t) => {
        const rest = t.split('\r\n').filter((l) => !l.startsWith('Route:')).join('\r\n');
        return rest.replace('Max-Forwards: 70', `Max-Forwards: 70\r\n${stolenRoutes.map((r) => `Route: ${r}`).join('\r\n')}`);
      });
      expect(signer.verifyInDialogRequest(forged)).toEqual({ ok: false, check: 'route-set', reason: 'mismatch' });
    }
    // Without any Route, or aimed at another Contact.
    const bare = edit(requestFromA(victim.okAtA), (t) => t.replace(/Route: [^\r]*\r\n/g, ''));
    expect(signer.verifyInDialogRequest(bare)).toMatchObject({ ok: false, reason: 'missing' });
    const elsewhere = edit(requestFromA(victim.okAtA), (t) => t.replace(`BYE ${B_CONTACT}`, 'BYE sip:bob@203.0.113.66:5064;transport=udp;ob'));
    expect(signer.verifyInDialogRequest(elsewhere)).toMatchObject({ ok: false, reason: 'mismatch' });
    // B's signature does not let anyone send as A, nor A's as B.
    const swapped = edit(requestFromB(victim.inviteAtB), (t) => t.replace(A_CONTACT, B_CONTACT));
    expect(signer.verifyInDialogRequest(swapped).ok).toBe(false);
  });

  it('names the party of each side, signed: another party, a changed flow, a stripped or garbled party do not verify', async () => {
    const { signer } = await makeSigner(new Clock());
    const { inviteAtB, okAtA } = call(signer);
    expect(signer.verifyInDialogRequest(requestFromA(okAtA))).toMatchObject({ ok: true, side: 'caller', party: PARTY_A });
    expect(signer.verifyInDialogRequest(requestFromB(inviteAtB))).toMatchObject({ ok: true, side: 'callee', party: PARTY_B });
    const bye = requestFromA(okAtA);
    const pa = (bye.routes()[0]!.uri as { params: Record<string, string> }).params[PARAM.partyCaller]!;
    expect(Buffer.from(pa, 'base64url').toString()).toBe('ks1 alice@lab.example');
    const as = (text: string) => Buffer.from(text).toString('base64url');
    // Naming someone else (the attacker, or the host in another case) breaks the signature.
    for (const other of ['ks1 mallory@evil.example', 'ks1 alice@LAB.EXAMPLE', 'flow udp 203.0.113.66 5060 alice@lab.example']) {
      expect(signer.verifyInDialogRequest(edit(bye, (t) => t.replace(pa, as(other))))).toMatchObject({ ok: false, reason: 'mismatch' });
    }
    expect(signer.verifyInDialogRequest(edit(bye, (t) => t.replace(`;${PARAM.partyCaller}=${pa}`, '')))).toMatchObject({ ok: false, reason: 'missing' });
    for (const garbled of [pa.slice(0, -3), '%00', as('ks1 '), as('flow udp 1.2.3.4 99999 x@y'), as('ks1 a\nb'), pa + 'A']) {
      expect(signer.verifyInDialogRequest(edit(bye, (t) => t.replace(pa, garbled))), garbled).toMatchObject({ ok: false });
    }
    // A Digest phone's party binds its flow.
    const phone = flowParty('1000@127.0.0.1', { protocol: 'udp', address: '192.0.2.10', port: 5062 });
    const r = bAnswers(sbcForwardsInvite(signer, inviteFromCore()));
    r.shift('Via');
    r.shift('Via');
    r.shift('Via');
    signer.signCallerRouteSet(r, phone);
    const fromPhone = requestFromA(wire(r));
    expect(signer.verifyInDialogRequest(fromPhone)).toMatchObject({ ok: true, party: { idc: '1000@127.0.0.1', flow: { protocol: 'udp', address: '192.0.2.10', port: 5062 } } });
    const ppa = (fromPhone.routes()[0]!.uri as { params: Record<string, string> }).params[PARAM.partyCaller]!;
    expect(signer.verifyInDialogRequest(edit(fromPhone, (t) => t.replace(ppa, as('flow udp 192.0.2.10 5063 1000@127.0.0.1'))))).toMatchObject({ ok: false, reason: 'mismatch' });
  });

  it('a Route set with a removed, inserted, replaced or reordered hop, or a changed parameter', async () => {
    const { signer } = await makeSigner(new Clock());
    const { okAtA, inviteAtB } = call(signer);
    const removed = edit(requestFromA(okAtA), (t) => t.replace(/Route: <sip:10\.0\.0\.2[^\r]*\r\n/, ''));
    const inserted = edit(requestFromA(okAtA), (t) => t.replace(/(Route: <sip:10\.0\.0\.2)/, 'Route: <sip:evil.example;lr>\r\n$1'));
    const lastGone = edit(requestFromB(inviteAtB), (t) => t.replace(/Route: <sip:sbc[^\r]*ks-rsa[^\r]*\r\n|Route: <sip:sbc.example.net:5060;lr>\r\n(?=From)/, ''));
    const replaced = edit(requestFromA(okAtA), (t) => t.replace('<sip:10.0.0.2:5060;lr;ftag=a1>', '<sip:203.0.113.66:5060;lr;ftag=a1>'));
    const param = edit(requestFromB(inviteAtB), (t) => t.replace('ftag=a1', 'ftag=a1;maddr=203.0.113.66'));
    const swapped = edit(requestFromA(okAtA), (t) => {
      const l = t.split('\r\n');
      const i = l.findIndex((x) => x.includes('10.0.0.2'));
      [l[i], l[i + 1]] = [l[i + 1]!, l[i]!];
      return l.join('\r\n');
    });
    for (const m of [removed, inserted, lastGone, replaced, param, swapped]) expect(signer.verifyInDialogRequest(m)).toMatchObject({ ok: false, reason: 'mismatch' });
  });

  it('a dialog replayed after its key expired', async () => {
    const clock = new Clock();
    const { signer, keys } = await makeSigner(clock);
    const { okAtA, okAtLeg2 } = call(signer);
    const bye = requestFromA(okAtA);
    expect(signer.verifyInDialogRequest(bye)).toMatchObject({ ok: true });
    // Rotation keeps the old key verifying: 4 h of signing + 24 h of lifetime.
    clock.advance(5 * 3600_000);
    await keys.rr.maybeRotate();
    await keys.via.maybeRotate();
    expect(signer.verifyInDialogRequest(bye)).toMatchObject({ ok: true });
    expect(signer.verifyVia(okAtLeg2)).toMatchObject({ ok: false, reason: 'unknown-key' }); // via keys live 4 h + 30 min
    clock.advance(24 * 3600_000);
    await keys.rr.maybeRotate();
    expect(signer.verifyInDialogRequest(bye)).toMatchObject({ ok: false, reason: 'unknown-key' });
  });

  it('a truncated, garbage or stripped route-set signature', async () => {
    const { signer } = await makeSigner(new Clock());
    const { okAtA } = call(signer);
    const bye = requestFromA(okAtA);
    const rsa = (bye.routes()[0]!.uri as { params: Record<string, string> }).params[PARAM.rsCaller]!;
    expect(signer.verifyInDialogRequest(edit(bye, (t) => t.replace(rsa, rsa.slice(0, 20))))).toMatchObject({ ok: false, reason: 'malformed' });
    expect(signer.verifyInDialogRequest(edit(bye, (t) => t.replace(rsa, '%00%ff')))).toMatchObject({ ok: false, reason: 'malformed' });
    expect(signer.verifyInDialogRequest(edit(bye, (t) => t.replace(`;${PARAM.rsCaller}=${rsa}`, '')))).toMatchObject({ ok: false, reason: 'missing' });
    const bad = rsa.slice(0, 9) + (rsa[9] === 'x' ? 'y' : 'x') + rsa.slice(10);
    expect(signer.verifyInDialogRequest(edit(bye, (t) => t.replace(rsa, bad)))).toMatchObject({ ok: false, reason: 'mismatch' });
  });

  it('never throws on hostile header values (fuzz), and nothing random verifies', async () => {
    const { signer } = await makeSigner(new Clock());
    const { okAtA, okAtLeg2 } = call(signer);
    const bye = requestFromA(okAtA);
    const rsa = (bye.routes()[0]!.uri as { params: Record<string, string> }).params[PARAM.rsCaller]!;
    const vs = okAtLeg2.topVia()!.params[PARAM.via]!;
    const value = fc.oneof(fc.string({ maxLength: 60 }), fc.stringMatching(/^[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{22}$/), fc.constantFrom(rsa.slice(0, 8) + '.', rsa + 'A', '', ';', '"'));
    const checks = [
      [bye, rsa, (x: SipRequest | SipResponse) => signer.verifyInDialogRequest(x as SipRequest)],
      [okAtLeg2, vs, (x: SipRequest | SipResponse) => signer.verifyVia(x as SipResponse)],
      [okAtLeg2, rrOf(okAtLeg2), (x: SipRequest | SipResponse) => signer.verifyRecordRoute(x as SipResponse)],
    ] as const;
    fc.assert(
      fc.property(value, fc.string({ maxLength: 80 }), (v, junk) => {
        for (const [m, orig, verify] of checks) {
          const t = serialize(m).toString('latin1');
          const replaced = parseMessage(Buffer.from(t.replace(orig, v), 'latin1'));
          if (replaced.ok && v !== orig) expect(verify(replaced.message).ok).toBe(false);
          for (const variant of [t.replace(/Route: </, 'Route: ' + junk + '<'), t.replace(/Via: /, 'Via: ' + junk)]) {
            const r = parseMessage(Buffer.from(variant, 'latin1'));
            if (r.ok) expect(() => verify(r.message)).not.toThrow();
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('failures feed the guard and the metrics', () => {
  it('blocks a source after 10 failures in 1 s and counts them by check and reason', async () => {
    const clock = new Clock();
    const alerts: string[] = [];
    const guard = new SignatureGuard({ now: clock.now, onAlert: (a) => alerts.push(a.source) });
    const registry = new MetricsRegistry();
    const { signer } = await makeSigner(clock, { onFailure: signingFailureSink(registry, guard) });
    const { okAtA } = call(signer);
    const forged = edit(requestFromA(okAtA), (t) => t.replace(/Route: <sip:10\.0\.0\.2[^\r]*\r\n/, ''));
    for (let i = 0; i < 9; i++) {
      expect(signer.verifyInDialogRequest(forged, '203.0.113.66').ok).toBe(false);
      clock.advance(50);
    }
    expect(guard.isBlocked('203.0.113.66')).toBe(false);
    expect(signer.verifyInDialogRequest(forged, '203.0.113.66').ok).toBe(false);
    expect(guard.isBlocked('203.0.113.66')).toBe(true);
    expect(alerts).toEqual(['203.0.113.66']);
    // The legitimate party from another address is not affected.
    expect(signer.verifyInDialogRequest(requestFromA(okAtA), '192.0.2.10')).toMatchObject({ ok: true });
    expect(guard.isBlocked('192.0.2.10')).toBe(false);
    const out = await registry.render();
    expect(out).toContain(`${SIGNING_METRICS.failures}{check="route-set",reason="mismatch"} 10`);
    expect(out).toContain(`${SIGNING_METRICS.blocks} 1`);
    expect(out).toContain(`${SIGNING_METRICS.blocked} 1`);
  });
});

describe('signing helpers on unusual messages', () => {
  it('a request without Contact gets ks-rr only; a response without Contact gets no ks-rsa', async () => {
    const { signer } = await makeSigner(new Clock());
    const inv = inviteFromCore();
    inv.remove('Contact');
    const out = sbcForwardsInvite(signer, inv);
    expect(Object.keys((out.recordRoutes()[0]!.uri as { params: object }).params).sort()).toEqual(['ks-rr', 'lr']);
    const r = res(`SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKa1
Record-Route: <sip:sbc.example.net;lr>
From: <sip:alice@lab.example>;tag=a1
To: <sip:bob@lab.example>;tag=b1
Call-ID: x@y
CSeq: 1 INVITE
Content-Length: 0

`);
    expect(signer.signCallerRouteSet(r, PARTY_A)).toBe(false);
    expect(() => signer.signRecordRoute(req(`OPTIONS sip:x@y SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKa1
From: <sip:alice@lab.example>;tag=a1
To: <sip:bob@lab.example>
Call-ID: x@y
CSeq: 1 OPTIONS
Content-Length: 0

`), PARTY_B)).toThrow(RangeError);
  });
});

describe('a single SBC hop between two untrusted parties', () => {
  it('one Record-Route entry carries ks-rr, ks-rsb and ks-rsa, signed with one key even across a rotation', async () => {
    const clock = new Clock();
    const { signer, keys } = await makeSigner(clock);
    const direct = edit(inviteFromCore(), (t) => t.replace(/Record-Route: [^\r]*\r\n/g, '').replace(/Via: SIP\/2.0\/UDP 10[^\r]*\r\n/g, ''));
    const atB = sbcForwardsInvite(signer, direct);
    expect(atB.recordRoutes()).toHaveLength(1);
    const ok = bAnswers(atB);
    expect(signer.verifyRecordRoute(ok)).toMatchObject({ ok: true });
    await keys.rr.rotate();
    const r = ok.clone();
    r.shift('Via');
    expect(signer.signCallerRouteSet(r, PARTY_A)).toBe(true);
    const atA = wire(r);
    const entry = atA.recordRoutes()[0]!.uri as { params: Record<string, string> };
    expect(Object.keys(entry.params).sort()).toEqual(['ks-pa', 'ks-pb', 'ks-rr', 'ks-rsa', 'ks-rsb', 'lr']);
    expect(entry.params['ks-rsa']!.split('.')[0]).toBe(entry.params['ks-rr']!.split('.')[0]);
    expect(signer.verifyInDialogRequest(requestFromA(atA))).toMatchObject({ ok: true, side: 'caller' });
    expect(signer.verifyInDialogRequest(requestFromB(atB))).toMatchObject({ ok: true, side: 'callee' });
  });
});
