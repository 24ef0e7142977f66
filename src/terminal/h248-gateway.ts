import { AppHmacSigner, AppHmacVerifier } from '../crypto/app-hmac.js';
import { TerminalFlow } from '../flow/terminal.js';
import type { Clock, RandomBytes, S7 } from '../flow/messages.js';
import {
  decodeS6, decodeS10, echoReply, encodeS1, encodeS7, ksStep, rootCommand,
} from '../adapters/h248/ks-mapping.js';
import { protect, sessionKeyId, spiOf, verifyProtected } from '../h248/auth-header.js';
import { observedEventsItem, replyError } from '../h248/descriptors.js';
import { H248_ERROR } from '../h248/errors.js';
import { H248Endpoint, peerKey, type IncomingRequest, type Peer, type ReplyContent, type RequestOutcome, type TransportStats, type TransportTimers } from '../h248/transport.js';
import type { Action, ErrorDescriptor, ParsedMessage } from '../h248/types.js';

/**
 * A media gateway registering through the SBC with keyswitch's flow over
 * H.248 text (s1 ServiceChange, s6 Modify, s7 Notify, s10 Modify), then
 * protecting every datagram with the Annex B header under app-hmac.
 */

export const MG_PORT = 2945;

export interface H248GatewayOptions {
  idc: string;
  kc: Buffer;
  idsp?: string;
  /** The SBC (or softswitch) as an IP address and port. */
  sbc: { host: string; port: number };
  /** Mechanism list with priorities; default `app-hmac;q=0.5`. */
  mechs?: string;
  /** Where to bind; default 0.0.0.0, an ephemeral port. */
  local?: { host?: string; port?: number };
  /** Our mId; default `[<bound address>]:<port>` (127.0.0.1 when bound to any). */
  mid?: string;
  timeoutMs?: number;
  /** How many Notify ks/auth answered 402 before giving up (default 2). */
  maxAttempts?: number;
  /** Keep the gateway open after registering, to send protected messages. */
  keepOpen?: boolean;
  timers?: Partial<TransportTimers>;
  clock?: Clock;
  random?: RandomBytes;
}

export interface H248GatewayStats {
  transport: TransportStats;
  downlinkRejected: number;
  requestsHandled: number;
}

export interface H248Gateway {
  readonly port: number;
  readonly sessionKeyId: string;
  readonly endpoint: H248Endpoint;
  /** Sends a Notify with one observed event on `termination` (protected by the Annex B header). */
  notify(termination: string, event: string, params?: Record<string, string>): Promise<{ ok: true } | { ok: false; code?: number; message: string }>;
  request(actions: Action[]): Promise<RequestOutcome>;
  stats(): H248GatewayStats;
  close(): void;
}

export type H248RegisterResult =
  | { ok: true; idsp: string; mechanism: string; sessionKeyId: string; ms: number; gateway?: H248Gateway }
  | { ok: false; kind: 'auth-failed' | 'error'; message: string; code?: number };

interface Session {
  spi: number;
  signer: AppHmacSigner;
  verifier: AppHmacVerifier;
  keyId: string;
}

export async function registerH248Gateway(o: H248GatewayOptions): Promise<H248RegisterResult> {
  const started = performance.now();
  const flow = new TerminalFlow({
    idc: o.idc,
    kc: o.kc,
    mechanisms: o.mechs ?? 'app-hmac;q=0.5',
    ...(o.idsp !== undefined ? { idsp: o.idsp } : {}),
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.random ? { random: o.random } : {}),
  });
  const sbc: Peer = { address: o.sbc.host, port: o.sbc.port };
  const sbcKey = peerKey(sbc);
  const maxAttempts = o.maxAttempts ?? 2;
  let session: Session | undefined;
  let attempts = 0;
  let downlinkRejected = 0;
  let requestsHandled = 0;
  let settle!: (r: H248RegisterResult) => void;
  const done = new Promise<H248RegisterResult>((resolve) => (settle = resolve));
  let finished = false;
  const finish = (r: H248RegisterResult) => {
    if (finished) return;
    finished = true;
    settle(r);
  };
  const fail = (kind: 'auth-failed' | 'error', message: string, code?: number) =>
    finish(code !== undefined ? { ok: false, kind, message, code } : { ok: false, kind, message });

  function inbound(peer: Peer, msg: ParsedMessage, datagram: Buffer): ErrorDescriptor | undefined {
    if (peerKey(peer) !== sbcKey) return { code: H248_ERROR.unauthorizedEntity, text: 'not my controller' };
    if (!session) return undefined;
    const verdict = verifyProtected(session.verifier, session.spi, msg, datagram);
    if (verdict === 'ok') return undefined;
    downlinkRejected++;
    return { code: H248_ERROR.unauthorized, text: `authentication header ${verdict}` };
  }

  const outbound = (_peer: Peer, text: string): Buffer => (session ? protect(session.signer, session.spi, text) : Buffer.from(text, 'utf8'));

  async function sendS7(s7: S7, requestId: number): Promise<void> {
    const res = await ep.request(sbc, encodeS7(s7, requestId));
    if (!res.ok) return fail('error', `no answer to Notify (${res.kind})`);
    const err = replyError(res.reply);
    if (!err) return; // s10 follows as a Modify
    if (err.code === H248_ERROR.unauthorized && ++attempts < maxAttempts) return; // a new challenge follows
    fail('auth-failed', `authentication refused: ${err.code} ${err.text ?? ''}`.trim(), err.code);
  }

  function onRequest(req: IncomingRequest): ReplyContent {
    const cmd = rootCommand(req.transaction);
    const step = cmd && ksStep(cmd);
    if (step === 'challenge') {
      const d = decodeS6(cmd!);
      if (!d.ok) return { error: d.error };
      const r = flow.onChallenge(d.value);
      if (!r.ok) return { error: { code: H248_ERROR.unauthorized, text: r.error } };
      const s7 = r.value;
      setImmediate(() => void sendS7(s7, d.value.requestId));
      return { actions: echoReply(req.transaction.actions) };
    }
    if (step === 'accepted') {
      const d = decodeS10(cmd!);
      if (!d.ok) return { error: d.error };
      const r = flow.onSuccess(d.value);
      if (!r.ok) {
        fail('auth-failed', `s10 refused: ${r.error}`);
        return { error: { code: H248_ERROR.unauthorized, text: r.error } };
      }
      const keys = r.value.keys;
      session = {
        spi: spiOf(keys.sessionKey),
        signer: new AppHmacSigner(keys.kAppHmac, 'uplink'),
        verifier: new AppHmacVerifier(keys.kAppHmac, 'downlink'),
        keyId: sessionKeyId(keys.sessionKey),
      };
      const ok = { ok: true as const, idsp: r.value.idsp, mechanism: r.value.mechanism, sessionKeyId: session.keyId, ms: performance.now() - started };
      finish(o.keepOpen ? { ...ok, gateway: handle } : ok);
      return { actions: echoReply(req.transaction.actions) };
    }
    if (!session) return { error: { code: H248_ERROR.notReady, text: 'not registered' } };
    requestsHandled++;
    return { actions: echoReply(req.transaction.actions) };
  }

  const ep = await H248Endpoint.bind(
    { host: o.local?.host ?? '0.0.0.0', port: o.local?.port ?? 0 },
    { mid: 'unset', onRequest, inbound, outbound, ...(o.timers ? { timers: o.timers } : {}) },
  );
  const bound = ep.socket.address().address;
  ep.mid = o.mid ?? `[${bound === '0.0.0.0' || bound === '::' ? '127.0.0.1' : bound}]:${ep.port}`;

  const handle: H248Gateway = {
    port: ep.port,
    get sessionKeyId() {
      return session?.keyId ?? '';
    },
    endpoint: ep,
    async notify(termination, event, params = {}) {
      const res = await ep.request(sbc, [
        { context: '-', commands: [{ name: 'Notify', terminations: [termination], descriptors: [observedEventsItem('1', [{ name: event, params: Object.entries(params) }])] }] },
      ]);
      if (!res.ok) return { ok: false, message: res.kind };
      const err = replyError(res.reply);
      return err ? (err.text !== undefined ? { ok: false, code: err.code, message: err.text } : { ok: false, code: err.code, message: '' }) : { ok: true };
    },
    request: (actions) => ep.request(sbc, actions),
    stats: () => ({ transport: ep.stats(), downlinkRejected, requestsHandled }),
    close: () => ep.close(),
  };

  const timer = setTimeout(() => fail('error', 'registration timed out'), o.timeoutMs ?? 15_000);
  const s1 = flow.start();
  void ep.request(sbc, encodeS1(s1)).then((res) => {
    if (!res.ok) return fail('error', `no answer to ServiceChange (${res.kind})`);
    const err = replyError(res.reply);
    if (!err) return;
    const kind = err.code === H248_ERROR.unauthorized || err.code === H248_ERROR.unauthorizedEntity ? 'auth-failed' : 'error';
    fail(kind, `registration refused: ${err.code} ${err.text ?? ''}`.trim(), err.code);
  });

  const result = await done;
  clearTimeout(timer);
  if (!result.ok || !o.keepOpen) {
    // Let the last reply leave (and answer a retransmitted s10 for a moment) before closing.
    setTimeout(() => ep.close(), result.ok ? 500 : 50).unref();
  }
  return result;
}
