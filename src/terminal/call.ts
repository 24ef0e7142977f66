/**
 * A SIP terminal that places or answers calls through the SBC after its KS1
 * registration, under the negotiated mechanism: under app-hmac every request
 * and response it sends is tagged and everything from the SBC is verified;
 * under tls-psk / tls everything runs on the mechanism's connection.
 *
 * One event per step goes to `onEvent` (the CLI prints them as JSON lines).
 * The UA is deliberately small: one dialog at a time per call, the route set
 * from Record-Route (RFC 3261 §12.1), SDP offered and answered but no media.
 */
import { randomBytes } from 'node:crypto';
import { signSipMessage } from '../adapters/sip/sbc-app-hmac.js';
import {
  createAckFor2xx, createResponse, formatUri, isStar, randomToken,
  type ServerContext, type SipRequest, type SipResponse,
} from '../sip/index.js';
import { sessionKeyId, SipTerminal, SipTerminalError, type SipTerminalOptions } from './sip-terminal.js';
import { newCallId, newTag } from './sip-uac.js';
import { identityOfUri } from '../sip/uri-compare.js';
import { deadline as startDeadline, noAnswerFrom, withDeadline } from './deadline.js';
import { answeredMedia, mediaOffer, RtpEndpoint } from './rtp-media.js';

export type CallEvent =
  | { event: 'registered'; idc: string; idsp: string; mechanism: string; sessionKeyId: string }
  | { event: 'calling'; to: string; callId: string }
  | { event: 'incoming'; from: string; callId: string; dialog: DialogInfo }
  | { event: 'ringing'; callId: string; status: number }
  | { event: 'answered'; callId: string; status: number; dialog?: DialogInfo }
  | { event: 'confirmed'; callId: string }
  | { event: 'media'; callId: string; to: string; codec: string; toneHz: number; dtmf: string }
  /** A request inside a call other than BYE and ACK (re-INVITE, UPDATE, INFO…): what the SBC delivered. */
  | { event: 'request'; callId: string; method: string }
  | { event: 'bye'; callId: string; by: 'local' | 'remote'; status?: number; seconds: number }
  | { event: 'refused'; callId?: string; method: string; reason: string }
  | { event: 'failed'; callId?: string; error: string; status?: number; authFailed: boolean };

/** What a UA learns of its dialog (RFC 3261 §12.1): printed for tracing, and what an attack test needs. */
export interface DialogInfo {
  localTag: string;
  remoteTag: string;
  remoteTarget: string;
  /** Route headers this side sends, in order. */
  routeSet: string[];
}

export type CallOptions = Omit<SipTerminalOptions, 'onRequest'> & {
  /** Callee: `bob@lab.example`. */
  to: string;
  /** Seconds to stay in the call before BYE (0: hang up at once). */
  holdSeconds: number;
  onEvent: (e: CallEvent) => void;
  /** Each exchange with the SBC (registration, INVITE's first answer, BYE) must end within this (default: SIP's timers only). */
  deadlineMs?: number;
  /** Once the callee rings, how long to wait for the final answer (default 90 s). */
  ringDeadlineMs?: number;
  /** Media while the call is up: a tone for the hold time, then DTMF (RFC 4733), then BYE. */
  media?: CallMedia;
};

export interface CallMedia {
  toneHz: number;
  /** Digits 0–9, *, #, A–D sent after the tone. */
  dtmf: string;
}

export type AnswerOptions = Omit<SipTerminalOptions, 'onRequest'> & {
  /** Stop after this many calls ended (default 1). */
  calls?: number;
  /** Give up after this many seconds without finishing (default: wait forever). */
  timeoutSeconds?: number;
  /** Ring this long before answering (default 0). */
  ringMs?: number;
  /** Hang up (BYE) each answered call after this many seconds; absent: wait for the caller's BYE. */
  hangUpSeconds?: number;
  onEvent: (e: CallEvent) => void;
  /** Resolves to stop answering (benchmarks). */
  stop?: Promise<void>;
  /** The registration must end within this (default: SIP's timers only). */
  registerDeadlineMs?: number;
};

export function sdpOffer(user: string, host = '127.0.0.1', port = 40000 + Math.floor(Math.random() * 10000) * 2): Buffer {
  const id = randomBytes(4).readUInt32BE(0);
  return Buffer.from(
    ['v=0', `o=${user.replace(/[^A-Za-z0-9_.-]/g, '') || '-'} ${id} 1 IN IP4 ${host}`, 's=keyswitch', `c=IN IP4 ${host}`, 't=0 0',
      `m=audio ${port} RTP/AVP 0 8 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=sendrecv', ''].join('\r\n'),
  );
}

function userOf(aor: string): string {
  const at = aor.lastIndexOf('@');
  return at < 0 ? aor : aor.slice(0, at);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Result: 0 the call completed, 2 an authentication failure, 1 anything else. */
export type CallExit = 0 | 1 | 2;

export function failed(e: unknown, callId?: string): CallEvent {
  const err = e instanceof SipTerminalError ? e : new SipTerminalError((e as Error)?.message ?? String(e), false);
  return { event: 'failed', ...(callId ? { callId } : {}), error: err.code, ...(err.status !== undefined ? { status: err.status } : {}), authFailed: err.auth };
}

export async function register(term: SipTerminal, emit: (e: CallEvent) => void, idc: string, deadlineMs?: number): Promise<void> {
  if (deadlineMs !== undefined) {
    await withDeadline(deadlineMs, noAnswerFrom(term.o.sbc), register(term, () => undefined, idc));
    emit({ event: 'registered', idc, idsp: term.session!.idsp, mechanism: term.session!.mechanism.toLowerCase(), sessionKeyId: sessionKeyId(term.session!.sessionKey) });
    return;
  }
  await term.registerKs1();
  const r = await term.applyMechanism();
  // A protected REGISTER on the mechanism's connection: the SBC now reaches us there.
  await term.refresh();
  emit({ event: 'registered', idc, idsp: r.idsp, mechanism: r.mechanism, sessionKeyId: r.sessionKeyId });
}

/** A dialog as one side holds it (RFC 3261 §12). */
export interface Dialog {
  callId: string;
  localTag: string;
  remoteTag: string;
  localUri: string;
  remoteUri: string;
  remoteTarget: string;
  routes: string[];
  cseq: number;
  startedAt: number;
}

/** A request inside the dialog, to the remote target along the route set. */
export function inDialog(term: SipTerminal, d: Dialog, method: string, body?: Buffer): SipRequest {
  const uac = term.securedUac;
  const req = uac.build({
    method,
    requestUri: d.remoteTarget,
    aor: d.localUri,
    to: `<sip:${d.remoteUri}>;tag=${d.remoteTag}`,
    callId: d.callId,
    cseq: ++d.cseq,
    fromTag: d.localTag,
    headers: [
      ...d.routes.map((r) => ['Route', r] as [string, string]),
      ['Contact', term.contact(uac)],
      ...(body ? [['Content-Type', 'application/sdp'] as [string, string]] : []),
    ],
    ...(body ? { body } : {}),
  });
  if (term.signer) signSipMessage(req, term.signer);
  return req;
}

/** A final answer from the SBC: its tag under app-hmac, then the status. */
export function checked(term: SipTerminal, res: SipResponse, what: string): SipResponse {
  if (res.localReason) throw new SipTerminalError(`${what}: ${res.status} (${res.localReason})`, false, res.status);
  const v = term.verifyFromSbc(res);
  if (v !== 'ok') throw new SipTerminalError(`${what}: answer's KS-HMAC ${v}`, true, res.status);
  return res;
}

/** Incoming BYEs of the calls a caller has up, by Call-ID. */
export type ByeWaiters = Map<string, (req: SipRequest) => void>;

/** The request handler of a calling terminal: answers BYE for its calls (and tells `waiters`), refuses INVITEs (486). */
export function callerRequests(getTerm: () => SipTerminal, waiters: ByeWaiters, emit: (e: CallEvent) => void) {
  return (req: SipRequest, ctx: ServerContext): void => {
    const t = getTerm();
    if (t.verifyFromSbc(req) !== 'ok') {
      emit({ event: 'refused', callId: req.callId(), method: req.method, reason: 'KS-HMAC' });
      return;
    }
    if (req.method === 'ACK') return;
    if (req.method !== 'BYE' && req.to().params.tag) emit({ event: 'request', callId: req.callId(), method: req.method });
    const w = req.method === 'BYE' ? waiters.get(req.callId()) : undefined;
    reply(t, ctx, createResponse(req, req.method === 'INVITE' ? 486 : w || req.method !== 'BYE' ? 200 : 481, undefined, { toTag: randomToken() }));
    w?.(req);
  };
}

/** One call from a registered terminal: INVITE, answer, ACK, hold, BYE. */
export async function dial(term: SipTerminal, o: { idc: string; to: string; holdSeconds: number; deadlineMs?: number; ringDeadlineMs?: number; media?: CallMedia }, emit: (e: CallEvent) => void, waiters: ByeWaiters = new Map()): Promise<CallExit> {
  const callId = newCallId();
  let rtp: RtpEndpoint | undefined;
  try {
    const uac = term.securedUac;
    const localTag = newTag();
    const host = uac.transport.host || '127.0.0.1';
    if (o.media) rtp = await RtpEndpoint.open(host);
    emit({ event: 'calling', to: o.to, callId });
    const invite = uac.build({
      method: 'INVITE',
      requestUri: `sip:${o.to}`,
      aor: o.idc,
      to: `<sip:${o.to}>`,
      callId,
      cseq: 1,
      fromTag: localTag,
      headers: [['Contact', term.contact(uac)], ['Content-Type', 'application/sdp'], ['Allow', 'INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, MESSAGE']],
      body: rtp ? mediaOffer(userOf(o.idc), host, rtp.port) : sdpOffer(userOf(o.idc), host),
    });
    if (term.signer) signSipMessage(invite, term.signer);
    let rang = false;
    // the SBC must answer the INVITE within the deadline; once it rings, the callee gets the ring deadline
    const inviteDeadline = o.deadlineMs !== undefined ? startDeadline(o.deadlineMs, `${noAnswerFrom(term.o.sbc)} to the INVITE`) : undefined;
    const invited = uac.sendBuilt(invite, (p) => {
      inviteDeadline?.reset(o.ringDeadlineMs ?? 90_000, 'no final answer to the INVITE after it rang');
      if (p.status > 100 && !rang && term.verifyFromSbc(p) === 'ok') {
        rang = true;
        emit({ event: 'ringing', callId, status: p.status });
      }
    });
    const res = checked(term, inviteDeadline ? await Promise.race([invited, inviteDeadline.expired]).finally(() => inviteDeadline.cancel()) : await invited, 'INVITE');
    if (res.status < 200 || res.status >= 300) {
      emit({ event: 'failed', callId, error: `call refused: ${res.status} ${res.reason}`, status: res.status, authFailed: res.status === 401 || res.status === 403 });
      return res.status === 401 || res.status === 403 ? 2 : 1;
    }
    const contact = res.contacts()[0];
    const d: Dialog = {
      callId, localTag, remoteTag: String(res.to().params.tag ?? ''), localUri: o.idc, remoteUri: o.to,
      remoteTarget: contact && !isStar(contact) ? formatUri(contact.uri) : `sip:${o.to}`,
      routes: res.list('Record-Route').reverse(), cseq: 1, startedAt: Date.now(),
    };
    emit({ event: 'answered', callId, status: res.status, dialog: { localTag, remoteTag: d.remoteTag, remoteTarget: d.remoteTarget, routeSet: d.routes } });
    const ack = createAckFor2xx(invite, res);
    ack.prepend('Via', uac.via());
    if (term.signer) signSipMessage(ack, term.signer);
    await uac.sendAck(ack);
    let byRemote = false;
    let mediaError: string | undefined;
    const hungUp = new Promise<SipRequest>((r) => waiters.set(callId, r)).then((req) => ((byRemote = true), req));
    let remote: SipRequest | undefined;
    if (rtp && o.media) {
      const to = answeredMedia(res.body);
      // an answer we cannot send to is still hung up (BYE below), then reported
      if (typeof to === 'string') mediaError = to;
      else if (o.media.dtmf && to.dtmfPayloadType === undefined) mediaError = 'answer SDP: no telephone-event payload type for --dtmf';
      else {
        emit({ event: 'media', callId, to: `${to.address}:${to.port}`, codec: to.codec, toneHz: o.media.toneHz, dtmf: o.media.dtmf });
        await rtp.sendTone(to, o.media.toneHz, o.holdSeconds * 1000, o.media.dtmf, () => byRemote);
        // the far end may hang up on the last key (the media server does after `#` in its menu): give its BYE a moment
        remote = byRemote ? await hungUp : await Promise.race([sleep(1500).then(() => undefined), hungUp]);
      }
    } else remote = o.holdSeconds > 0 ? await Promise.race([sleep(o.holdSeconds * 1000).then(() => undefined), hungUp]) : undefined;
    waiters.delete(callId);
    const seconds = Math.round((Date.now() - d.startedAt) / 100) / 10;
    if (remote) {
      emit({ event: 'bye', callId, by: 'remote', seconds });
      return 0;
    }
    const byeSent = uac.sendBuilt(inDialog(term, d, 'BYE'));
    const bye = checked(term, o.deadlineMs !== undefined ? await withDeadline(o.deadlineMs, `${noAnswerFrom(term.o.sbc)} to the BYE`, byeSent) : await byeSent, 'BYE');
    emit({ event: 'bye', callId, by: 'local', status: bye.status, seconds });
    if (mediaError) {
      emit({ event: 'failed', callId, error: mediaError, authFailed: false });
      return 1;
    }
    if (bye.status < 200 || bye.status >= 300) return bye.status === 403 ? 2 : 1;
    return 0;
  } catch (e) {
    const ev = failed(e, callId);
    emit(ev);
    return ev.event === 'failed' && ev.authFailed ? 2 : 1;
  } finally {
    rtp?.close();
  }
}

/** Registers, calls `to`, holds, hangs up. */
export async function placeCall(o: CallOptions): Promise<CallExit> {
  const emit = o.onEvent;
  const waiters: ByeWaiters = new Map();
  let term: SipTerminal | undefined;
  term = new SipTerminal({ ...o, onRequest: callerRequests(() => term!, waiters, emit) });
  try {
    await register(term, emit, o.idc, o.deadlineMs);
  } catch (e) {
    const ev = failed(e);
    emit(ev);
    await term.close().catch(() => undefined);
    return ev.event === 'failed' && ev.authFailed ? 2 : 1;
  }
  try {
    return await dial(term, o, emit, waiters);
  } finally {
    await term.close().catch(() => undefined);
  }
}

function reply(term: SipTerminal, ctx: ServerContext, res: SipResponse): void {
  if (term.signer) signSipMessage(res, term.signer);
  ctx.reply(res);
}

/** Registers, then answers incoming calls (180, 200 with SDP) and their BYE, until `calls` have ended. */
export async function answerCalls(o: AnswerOptions): Promise<CallExit> {
  const emit = o.onEvent;
  const want = o.calls ?? 1;
  let ended = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => (done = r));
  const started = new Map<string, number>();
  let term: SipTerminal | undefined;
  const onRequest = async (req: SipRequest, ctx: ServerContext): Promise<void> => {
    const t = term!;
    const v = t.verifyFromSbc(req);
    if (v !== 'ok') {
      emit({ event: 'refused', callId: req.callId(), method: req.method, reason: `KS-HMAC ${v}` });
      return;
    }
    const callId = req.callId();
    const rr: Array<[string, string]> = req.getAll('Record-Route').map((x) => ['Record-Route', x]);
    const contact: [string, string] = ['Contact', t.contact(t.securedUac)];
    if (req.method === 'ACK') {
      emit({ event: 'confirmed', callId });
      return;
    }
    if (req.method === 'INVITE') {
      const tag = String(req.to().params.tag ?? '') || newTag();
      const fresh = req.to().params.tag === undefined;
      if (fresh) {
        const c = req.contacts()[0];
        const dialog: DialogInfo = { localTag: tag, remoteTag: String(req.from().params.tag ?? ''), remoteTarget: c && !isStar(c) ? formatUri(c.uri) : '', routeSet: req.list('Record-Route') };
        emit({ event: 'incoming', from: formatUri(req.from().uri), callId, dialog });
        let cancelled = false;
        ctx.onCancel(() => {
          cancelled = true;
          reply(t, ctx, createResponse(req, 487, undefined, { toTag: tag }));
        });
        reply(t, ctx, createResponse(req, 180, undefined, { toTag: tag, headers: [...rr, contact] }));
        emit({ event: 'ringing', callId, status: 180 });
        if (o.ringMs) await sleep(o.ringMs);
        if (cancelled) return;
      } else emit({ event: 'request', callId, method: req.method });
      const body = sdpOffer(userOf(o.idc), t.securedUac.transport.host || '127.0.0.1');
      reply(t, ctx, createResponse(req, 200, undefined, { toTag: tag, headers: [...rr, contact, ['Content-Type', 'application/sdp']], body }));
      if (fresh) {
        started.set(callId, Date.now());
        emit({ event: 'answered', callId, status: 200 });
        if (o.hangUpSeconds !== undefined) {
          const c = req.contacts()[0];
          // our side of the dialog (RFC 3261 §12.1.1): the route set is the Record-Route as it came
          void hangUp(t, {
            callId, localTag: tag, remoteTag: String(req.from().params.tag ?? ''), localUri: o.idc, remoteUri: identityOfUri(req.from().uri) ?? '',
            remoteTarget: c && !isStar(c) ? formatUri(c.uri) : '', routes: req.list('Record-Route'), cseq: 0, startedAt: Date.now(),
          });
        }
      }
      return;
    }
    if (req.method !== 'BYE' && req.to().params.tag) emit({ event: 'request', callId, method: req.method });
    reply(t, ctx, createResponse(req, 200, undefined, { headers: [contact] }));
    if (req.method === 'BYE') {
      const t0 = started.get(callId);
      if (!started.delete(callId) && o.hangUpSeconds !== undefined) return; // a BYE crossing ours, already counted
      emit({ event: 'bye', callId, by: 'remote', status: 200, seconds: t0 ? Math.round((Date.now() - t0) / 100) / 10 : 0 });
      if (++ended >= want) done();
    }
  };
  const hangUp = async (t: SipTerminal, d: Dialog): Promise<void> => {
    await sleep(o.hangUpSeconds! * 1000);
    if (!started.delete(d.callId)) return; // the caller hung up first
    try {
      const bye = checked(t, await t.securedUac.sendBuilt(inDialog(t, d, 'BYE')), 'BYE');
      emit({ event: 'bye', callId: d.callId, by: 'local', status: bye.status, seconds: Math.round((Date.now() - d.startedAt) / 100) / 10 });
    } catch (e) {
      emit(failed(e, d.callId));
    }
    if (++ended >= want) done();
  };
  term = new SipTerminal({ ...o, onRequest });
  let timer: NodeJS.Timeout | undefined;
  try {
    await register(term, emit, o.idc, o.registerDeadlineMs);
    const timeout = o.timeoutSeconds !== undefined
      ? new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), o.timeoutSeconds! * 1000)))
      : new Promise<never>(() => undefined);
    const r = await Promise.race([finished.then(() => 'done' as const), timeout, ...(o.stop ? [o.stop.then(() => 'done' as const)] : [])]);
    if (r === 'timeout') {
      emit({ event: 'failed', error: `timeout: ${ended}/${want} calls`, authFailed: false });
      return 1;
    }
    return 0;
  } catch (e) {
    const ev = failed(e);
    emit(ev);
    return ev.event === 'failed' && ev.authFailed ? 2 : 1;
  } finally {
    if (timer) clearTimeout(timer);
    await term.close().catch(() => undefined);
  }
}
