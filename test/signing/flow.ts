/**
 * A call A → SBC(leg 1) → softswitch → SBC(leg 2) → B, as the SBC proxy will
 * drive the signing API, with every hop going through serialize/parse as on
 * the wire. Times come from a movable clock.
 */
import {
  createResponse,
  parseMessage,
  serialize,
  SipRequest,
  SipResponse,
  type SipMessage,
} from '../../src/sip/index.js';
import { KeyRing, type SigningKeys } from '../../src/sbc/signing/keyring.js';
import { HeaderSigner, PARAM, type FailureSink } from '../../src/sbc/signing/sip-signatures.js';
import { MemorySigningKeyStore } from '../../src/store/signing-keys.js';
import type { SigningPool } from '../../src/sbc/pool/pool.js';
import { ks1Party, type DialogParty } from '../../src/sbc/dialogs.js';

/** The parties of the call: A (the caller) and B (the callee), KS1 terminals. */
export const PARTY_A: DialogParty = ks1Party('alice@lab.example');
export const PARTY_B: DialogParty = ks1Party('bob@lab.example');

export class Clock {
  t = Date.UTC(2025, 0, 1, 12, 0, 0);
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export async function makeSigner(clock: Clock, o: { pool?: SigningPool; onFailure?: FailureSink } = {}): Promise<{ signer: HeaderSigner; keys: Pick<SigningKeys, 'via' | 'rr'> }> {
  const store = new MemorySigningKeyStore();
  const via = await KeyRing.open({ store, purpose: 'via', lifetimeMs: 30 * 60_000, now: clock.now });
  const rr = await KeyRing.open({ store, purpose: 'rr', lifetimeMs: 24 * 3600_000, now: clock.now });
  return { signer: new HeaderSigner({ via, rr, pool: o.pool, onFailure: o.onFailure }), keys: { via, rr } };
}

/** Through the wire: serialize and parse again. */
export function wire<T extends SipMessage>(m: T): T {
  const r = parseMessage(serialize(m));
  if (!r.ok) throw new Error(`did not parse: ${r.error.header} ${r.error.reason}`);
  return r.message as unknown as T;
}

export function req(text: string): SipRequest {
  const r = parseMessage(Buffer.from(text.replace(/\n/g, '\r\n')));
  if (!r.ok || !r.message.isRequest()) throw new Error(`bad test request: ${!r.ok ? r.error.reason : 'response'}`);
  return r.message;
}

export function res(text: string): SipResponse {
  const r = parseMessage(Buffer.from(text.replace(/\n/g, '\r\n')));
  if (!r.ok || !r.message.isResponse()) throw new Error(`bad test response: ${!r.ok ? r.error.reason : 'request'}`);
  return r.message;
}

const SDP = 'v=0\no=alice 1 1 IN IP4 192.0.2.10\ns=-\nc=IN IP4 192.0.2.10\nt=0 0\nm=audio 49170 RTP/AVP 0\n';

export const SBC_RR = '<sip:sbc.example.net:5060;lr>';
export const SS_RR = '<sip:10.0.0.2:5060;lr;ftag=a1>';
export const A_CONTACT = 'sip:alice@192.0.2.10:5062;transport=udp';
export const B_CONTACT = 'sip:bob@198.51.100.20:5064;transport=udp;ob';

/** The INVITE as the softswitch hands it to the SBC for leg 2 (RR: softswitch, SBC leg 1). */
export function inviteFromCore(callId = 'c1-8f2e@192.0.2.10', aTag = 'a1', aContact = A_CONTACT): SipRequest {
  return req(
    `INVITE sip:bob@198.51.100.20:5064;transport=udp;ob SIP/2.0
Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKss1;received=10.0.0.2
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKsbc1
Via: SIP/2.0/UDP 192.0.2.10:5062;rport=5062;branch=z9hG4bKa1;received=192.0.2.10
Max-Forwards: 68
Record-Route: ${SS_RR}
Record-Route: <sip:sbc.example.net:5060;lr>
From: "Alice" <sip:alice@lab.example>;tag=${aTag}
To: <sip:bob@lab.example>
Call-ID: ${callId}
CSeq: 1 INVITE
Contact: <${aContact}>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-00000000000a>"
Content-Type: application/sdp
Content-Length: ${Buffer.byteLength(SDP.replace(/\n/g, '\r\n'))}

${SDP}`,
  );
}

/** Leg 2: what the SBC does to the INVITE before it leaves towards B. */
export function sbcForwardsInvite(signer: HeaderSigner, invite: SipRequest): SipRequest {
  const fwd = invite.clone();
  fwd.set('Max-Forwards', String((invite.maxForwards() ?? 70) - 1));
  fwd.prepend('Record-Route', SBC_RR);
  signer.signRecordRoute(fwd, PARTY_B);
  const vs = signer.viaSignature(fwd);
  // What stack.send(fwd, { viaParams }) does: push the SBC's Via with the signature.
  fwd.prepend('Via', `SIP/2.0/UDP sbc.example.net:5060;branch=z9hG4bKsbc2x;rport;${PARAM.via}=${vs}`);
  return wire(fwd);
}

/** B answers: a UAS copies Via, From, To, Call-ID, CSeq and Record-Route (RFC 3261 §12.1.1). */
export function bAnswers(inviteAtB: SipRequest, status = 200, bTag = 'b1', bContact = B_CONTACT): SipResponse {
  const rr = inviteAtB.getAll('Record-Route').map((v) => ['Record-Route', v] as const);
  const r = createResponse(inviteAtB, status, undefined, { toTag: bTag, headers: [...rr, ['Contact', `<${bContact}>`]] });
  return wire(r);
}

/** Leg 2 pops its Via; the response crosses the core to leg 1, which signs the caller's route set. */
export function sbcForwardsAnswerToA(signer: HeaderSigner, resAtLeg2: SipResponse): SipResponse {
  const r = resAtLeg2.clone();
  r.shift('Via'); // leg 2's Via
  r.shift('Via'); // the softswitch's
  r.shift('Via'); // leg 1's own
  signer.signCallerRouteSet(r, PARTY_A);
  return wire(r);
}

/** An in-dialog request as the caller (A) sends it: Route = reversed Record-Route, R-URI = B's Contact. */
export function requestFromA(answerAtA: SipResponse, method = 'BYE', cseq = 2): SipRequest {
  const routes = answerAtA.list('Record-Route').reverse();
  const target = answerAtA.list('Contact')[0]!.replace(/^<|>.*$/g, '');
  return req(
    `${method} ${target} SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;rport;branch=z9hG4bKa${cseq}
Max-Forwards: 70
${routes.map((r) => `Route: ${r}`).join('\n')}
From: "Alice" <sip:alice@lab.example>;tag=${answerAtA.from().params.tag}
To: <sip:bob@lab.example>;tag=${answerAtA.to().params.tag}
Call-ID: ${answerAtA.callId()}
CSeq: ${cseq} ${method}
Content-Length: 0

`,
  );
}

/** An in-dialog request as the callee (B) sends it: Route = Record-Route, R-URI = A's Contact. */
export function requestFromB(inviteAtB: SipRequest, bTag = 'b1', method = 'BYE', cseq = 1): SipRequest {
  const routes = inviteAtB.list('Record-Route');
  const target = inviteAtB.list('Contact')[0]!.replace(/^<|>.*$/g, '');
  return req(
    `${method} ${target} SIP/2.0
Via: SIP/2.0/UDP 198.51.100.20:5064;rport;branch=z9hG4bKb${cseq}
Max-Forwards: 70
${routes.map((r) => `Route: ${r}`).join('\n')}
From: <sip:bob@lab.example>;tag=${bTag}
To: "Alice" <sip:alice@lab.example>;tag=${inviteAtB.from().params.tag}
Call-ID: ${inviteAtB.callId()}
CSeq: ${cseq} ${method}
Content-Length: 0

`,
  );
}

/** Sets up a whole call and returns the messages each party holds. */
export function call(signer: HeaderSigner, o: { callId?: string; aTag?: string; aContact?: string; bContact?: string; leg1?: HeaderSigner } = {}) {
  const inviteAtB = sbcForwardsInvite(signer, inviteFromCore(o.callId, o.aTag, o.aContact));
  const okAtLeg2 = bAnswers(inviteAtB, 200, 'b1', o.bContact);
  const okAtA = sbcForwardsAnswerToA(o.leg1 ?? signer, okAtLeg2);
  return { inviteAtB, okAtLeg2, okAtA };
}
