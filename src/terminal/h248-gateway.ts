import { AppHmacSigner, AppHmacVerifier } from '../crypto/app-hmac.js';
import { TerminalFlow } from '../flow/terminal.js';
import type { Clock, RandomBytes, S7 } from '../flow/messages.js';
import {
  decodeS6, decodeS10, echoReply, encodeS1, encodeS7, ksStep, rootCommand,
} from '../adapters/h248/ks-mapping.js';
import { protect, sessionKeyId, spiOfKeyId, verifyProtected } from '../h248/auth-header.js';
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
  /**
   * Registers again from the same socket, with the keys derived when the gateway was opened (as a real gateway
   * refreshes its registration): a whole KS1 run, s1 to s10; until s10 the current session still protects what
   * the gateway sends.
   */
  register(): Promise<H248RegisterResult>;
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

/** Opens a gateway and registers it once; with `keepOpen` it stays open (in `gateway`) for protected messages and further registrations. */
export async function registerH248Gateway(o: H248GatewayOptions): Promise<H248RegisterResult> {
  const gateway = await openH248Gateway(o);
  const result = await gateway.register();
  if (!result.ok || !o.keepOpen) {
    // Let the last reply leave (and answer a retransmitted s10 for a moment) before closing.
    setTimeout(() => gateway.close(), result.ok ? 500 : 50).unref();
    return result;
  }
  return { ...result, gateway };
}

interface Attempt {
  started: number;
  attempts: number;
  timer: NodeJS.Timeout;
  settle: (r: H248RegisterResult) => void;
}

/**
 * A gateway on its own socket, its keys derived once (K_auth, K_wrap): `register()` runs KS1 as often as asked,
 * each run with its own N1, challenge and session keys.
 */
export async function openH248Gateway(o: H248GatewayOptions): Promise<H248Gateway> {
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
  let attempt: Attempt | undefined;
  let downlinkRejected = 0;
  let requestsHandled = 0;
  const finish = (a: Attempt, r: H248RegisterResult) => {
    if (attempt !== a) return;
    attempt = undefined;
    clearTimeout(a.timer);
    a.settle(r);
  };
  const fail = (a: Attempt, kind: 'auth-failed' | 'error', message: string, code?: number) =>
    finish(a, code !== undefined ? { ok: false, kind, message, code } : { ok: false, kind, message });

  function inbound(peer: Peer, msg: ParsedMessage, datagram: Buffer): ErrorDescriptor | undefined {
    if (peerKey(peer) !== sbcKey) return { code: H248_ERROR.unauthorizedEntity, text: 'not my controller' };
    if (!session) return undefined;
    // During a registration the SBC's challenge (s6) and acceptance (s10) are checked by the flow (N1 echo, the s10
    // MAC under the new keys), as on the first registration: s10 comes under the new session's header already.
    if (attempt && msg.auth?.spi !== session.spi && isKsStep(msg)) return undefined;
    const verdict = verifyProtected(session.verifier, session.spi, msg, datagram);
    if (verdict === 'ok') return undefined;
    downlinkRejected++;
    return { code: H248_ERROR.unauthorized, text: `authentication header ${verdict}` };
  }

  const outbound = (_peer: Peer, text: string): Buffer => (session ? protect(session.signer, session.spi, text) : Buffer.from(text, 'utf8'));

  async function sendS7(a: Attempt, s7: S7, requestId: number): Promise<void> {
    const res = await ep.request(sbc, encodeS7(s7, requestId));
    if (!res.ok) return fail(a, 'error', `no answer to Notify (${res.kind})`);
    const err = replyError(res.reply);
    if (!err) return; // s10 follows as a Modify
    if (err.code === H248_ERROR.unauthorized && ++a.attempts < maxAttempts) return; // a new challenge follows
    fail(a, 'auth-failed', `authentication refused: ${err.code} ${err.text ?? ''}`.trim(), err.code);
  }

  function onRequest(req: IncomingRequest): ReplyContent {
    const cmd = rootCommand(req.transaction);
    const step = cmd && ksStep(cmd);
    if (step === 'challenge') {
      const a = attempt;
      if (!a) return { error: { code: H248_ERROR.notReady, text: 'no registration in progress' } };
      const d = decodeS6(cmd!);
      if (!d.ok) return { error: d.error };
      const r = flow.onChallenge(d.value);
      if (!r.ok) return { error: { code: H248_ERROR.unauthorized, text: r.error } };
      const s7 = r.value;
      setImmediate(() => void sendS7(a, s7, d.value.requestId));
      return { actions: echoReply(req.transaction.actions) };
    }
    if (step === 'accepted') {
      const a = attempt;
      if (!a) return { error: { code: H248_ERROR.notReady, text: 'no registration in progress' } };
      const d = decodeS10(cmd!);
      if (!d.ok) return { error: d.error };
      const r = flow.onSuccess(d.value);
      if (!r.ok) {
        fail(a, 'auth-failed', `s10 refused: ${r.error}`);
        return { error: { code: H248_ERROR.unauthorized, text: r.error } };
      }
      const keys = r.value.keys;
      // one SHA-256 of the session key for both its id and the SPI
      const keyId = sessionKeyId(keys.sessionKey);
      session = {
        spi: spiOfKeyId(keyId),
        signer: new AppHmacSigner(keys.kAppHmac, 'uplink'),
        verifier: new AppHmacVerifier(keys.kAppHmac, 'downlink'),
        keyId,
      };
      finish(a, { ok: true, idsp: r.value.idsp, mechanism: r.value.mechanism, sessionKeyId: session.keyId, ms: performance.now() - a.started });
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

  return {
    port: ep.port,
    get sessionKeyId() {
      return session?.keyId ?? '';
    },
    endpoint: ep,
    register() {
      if (attempt) return Promise.resolve({ ok: false, kind: 'error', message: 'registration already in progress' });
      return new Promise<H248RegisterResult>((settle) => {
        const a: Attempt = { started: performance.now(), attempts: 0, settle, timer: undefined as unknown as NodeJS.Timeout };
        a.timer = setTimeout(() => fail(a, 'error', 'registration timed out'), o.timeoutMs ?? 15_000);
        attempt = a;
        const s1 = flow.start();
        void ep.request(sbc, encodeS1(s1)).then((res) => {
          if (!res.ok) return fail(a, 'error', `no answer to ServiceChange (${res.kind})`);
          const err = replyError(res.reply);
          if (!err) return;
          const kind = err.code === H248_ERROR.unauthorized || err.code === H248_ERROR.unauthorizedEntity ? 'auth-failed' : 'error';
          fail(a, kind, `registration refused: ${err.code} ${err.text ?? ''}`.trim(), err.code);
        });
      });
    },
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
    close: () => {
      if (attempt) fail(attempt, 'error', 'closed');
      ep.close();
    },
  };
}

/**
 * A message whose requests are all KS1 steps the SBC sends a registering gateway (s6 challenge, s10 acceptance),
 * with at least one; replies may ride with them (the SBC piggy-backs its reply to s7 on s10).
 */
function isKsStep(msg: ParsedMessage): boolean {
  let step = false;
  for (const t of msg.transactions) {
    if (t.type !== 'request') continue;
    const cmd = rootCommand(t);
    const k = cmd && ksStep(cmd);
    if (k !== 'challenge' && k !== 'accepted') return false;
    step = true;
  }
  return step;
}
