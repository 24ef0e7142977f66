/**
 * The intrusion detection on the SBC's SIP listeners (docs/ids.md): every
 * message from a terminal is screened before the transaction layer, and every
 * answer sent back is read for authentication outcomes. A drop is silent; an
 * `answer` verdict gets its 403/503 (with Retry-After) to the source only,
 * never for an ACK.
 */
import { SipIds, type IdsSink } from '../adapters/sip/ids.js';
import { createResponse, serialize, type MessageSource, type ParseResult, type SipRequest, type SipTransport } from '../sip/index.js';

export interface SbcIds {
  adapter: SipIds;
  /** Messages dropped or answered by the IDS. */
  screened: { dropped: number; answered: number };
}

export function sbcIds(ids: IdsSink): SbcIds {
  return { adapter: new SipIds(ids), screened: { dropped: 0, answered: 0 } };
}

/** Answers leaving `t` are read for outcomes (the 2xx, 401/407 or 403 to a credentialed request). */
export function watchAnswers(t: SipTransport, s: SbcIds): void {
  const send = t.send.bind(t);
  t.send = (data, dest) => {
    s.adapter.outbound(data, dest, t.protocol);
    return send(data, dest);
  };
  // transactions send by post when the transport has it (UDP): their answers are watched the same
  const post = t.post?.bind(t);
  if (post) {
    t.post = (data, dest, done) => {
      s.adapter.outbound(data, dest, t.protocol);
      post(data, dest, done);
    };
  }
}

/** True when the IDS took the message (dropped or answered); else it goes on to the stack. */
export function screen(s: SbcIds, r: ParseResult, src: MessageSource): boolean {
  const v = s.adapter.inbound(r, src);
  if (!v || v.kind === 'pass') return false;
  if (v.kind === 'drop' || !r.ok || !r.message.isRequest() || (r.message as SipRequest).method === 'ACK') {
    s.screened.dropped++;
    return true;
  }
  s.screened.answered++;
  const res = createResponse(r.message as SipRequest, v.status, v.status === 403 ? 'Forbidden' : 'Service Unavailable', {
    toTag: 'ids',
    ...(v.retryAfter !== undefined ? { headers: [['Retry-After', String(v.retryAfter)]] } : {}),
  });
  src.transport.send(serialize(res), { address: src.address, port: src.port, ...(src.connection ? { connection: src.connection } : {}) }).catch(() => undefined);
  return true;
}
