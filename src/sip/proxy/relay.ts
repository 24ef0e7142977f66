/**
 * Transaction-stateful relaying of one request (RFC 3261 §16.6–§16.10): sequential forking
 * over a list of branches, provisional and 2xx answers passed upstream as they come, CANCEL
 * fan-out to the live branch, a ring timeout, Timer C and a no-answer timeout per INVITE branch, and
 * the best final answer chosen when no branch answers 2xx (§16.7 step 6, simplified).
 * It answers nothing upstream itself but the 1xx/2xx it passes on: the final outcome goes
 * back to the role, which decides what to send (its metrics, its local answers).
 */
import { createCancel, createResponse, randomToken } from '../build.js';
import type { SipRequest, SipResponse } from '../message.js';
import type { SendOptions, ServerContext, SipStack } from '../stack.js';

export interface RelayBranch {
  /** The branch's Request-URI (unchanged when absent). */
  requestUri?: string | undefined;
  /** Where to send; by the first Route or the Request-URI when absent. */
  destination?: SendOptions['destination'] | undefined;
  transport?: SendOptions['transport'] | undefined;
  /**
   * Other addresses of the same next hop, tried in order with the request unchanged (its
   * Route and Request-URI as they are) when the one before gave no answer at all: a transport
   * failure, or nothing, not even 100, within `noAnswerTimeoutMs` (for every method; for a
   * non-INVITE only while an address is left). RFC 3263 §4.3's next element of a target set,
   * as for instances of one SBC pool. A final answer from any of them ends the branch as usual.
   * Not with `noVia` (each address gets its own copy and Via).
   */
  alternates?: ReadonlyArray<NonNullable<SendOptions['destination']>> | undefined;
}

export interface RelayOptions<B extends RelayBranch> {
  stack: SipStack;
  ctx: ServerContext;
  /**
   * The copy to forward (Max-Forwards counted, own Routes popped). With several branches (or
   * addresses) each gets its own clone; with one, this very object is sent and keeps our Via,
   * the Request-URI and what `prepare` added: clone it first to relay it again.
   */
  fwd: SipRequest;
  branches: readonly B[];
  /** Per-branch edit of the branch's copy before it leaves (Record-Route, header policy); may return Via parameters. */
  prepare?: (out: SipRequest, br: B) => SendOptions['viaParams'] | void;
  /** The request already carries our Via (the role pushed a signed one): push none, send as is. */
  noVia?: boolean;
  /**
   * Checks an answer from a branch as it came (our Via still on top), before anything else
   * reads it: false drops a provisional, and ends the relay on a final (`refused`).
   */
  accept?: (res: SipResponse, br: B) => boolean;
  /** A 1xx (not 100) or a 2xx from a branch, our Via popped, on its way upstream. */
  upstream: (res: SipResponse, br: B | undefined) => void;
  /** Builds the CANCEL for a branch (default createCancel; a role may sign it). */
  cancel?: (out: SipRequest, br: B) => SipRequest;
  /** INVITE: a branch without a final answer after this long is cancelled and the next tried. */
  ringTimeoutMs?: number | undefined;
  /** INVITE (any method under `failover`): a branch that sent nothing at all (not even 100) after this long is given up. */
  noAnswerTimeoutMs?: number | undefined;
  /**
   * INVITE: Timer C (RFC 3261 §16.6 step 11, §16.8), more than 3 minutes. A branch without a
   * final answer this long after it was sent, or after its last provisional other than 100
   * (each one starts it again), is given up as on `ringTimeoutMs`: a CANCEL when it sent a
   * provisional, a 408 otherwise.
   */
  timerCMs?: number | undefined;
  /**
   * The branches are equivalent next hops (an SBC's softswitches), not contacts: the next one is
   * tried only when this one answered nothing at all within `noAnswerTimeoutMs` or could not be
   * reached; any final answer from a branch ends the relay. Needs two branches or more.
   */
  failover?: boolean | undefined;
  /** Non-INVITE over UDP: 100 Trying upstream when no answer came after this long (RFC 4320: T2). */
  tryingAfterMs?: number | undefined;
  /** Timers are kept here so the role can clear them on close. */
  timers?: Set<NodeJS.Timeout>;
  /** A branch given up for silence. */
  onUnresponsive?: (br: B) => void;
  /** Under `failover`: a branch that could not be reached (a send failure, or the transaction's own timeout). */
  onUnreachable?: (br: B) => void;
  /**
   * An address of a branch with alternates gave no answer at all (`silent`: nothing within
   * `noAnswerTimeoutMs`; `error`: a transport failure or the stack's own timeout) and the next is tried.
   */
  onHopFailed?: (destination: SendOptions['destination'], br: B, why: 'silent' | 'error', method: string) => void;
}

export type RelayOutcome<B> =
  | { kind: 'answered'; res: SipResponse; branch: B }
  /** The branch's final answer failed `accept` (it is as it came). */
  | { kind: 'refused'; res: SipResponse; branch: B }
  | {
    kind: 'failed';
    /** The best final answer: `local` when made here (timeout, unreachable, cancelled before any answer). */
    best: { res: SipResponse; status: number; local: boolean } | undefined;
    /** The upstream CANCELled the request. */
    cancelled: boolean;
    timeouts: number;
  };

const NO_RANK = 99;

/**
 * A branch's final answer as the proxy sees it: a local timeout is 408, a local transport
 * failure means the contact is unreachable (480), and a downstream 503 is not passed on as
 * such (RFC 3261 §16.7 step 6: 500).
 */
export function effectiveStatus(status: number, localReason: 'timeout' | 'transport' | undefined): number {
  if (localReason === 'transport') return 480;
  if (localReason === 'timeout') return 408;
  if (status === 503) return 500;
  return status;
}

/**
 * Orders failed branches for the answer upstream: 6xx first (it also stops forking), then 4xx
 * other than 408, then 3xx, 5xx, and 408 last (a timeout says least about the callee).
 */
export function failureRank(status: number): number {
  if (status >= 600) return 0;
  if (status === 408) return 4;
  if (status >= 500) return 3;
  if (status >= 400) return 1;
  return 2;
}

export function relay<B extends RelayBranch>(o: RelayOptions<B>, timerSet?: Set<NodeJS.Timeout>): Promise<RelayOutcome<B>> {
  const timers = o.timers ?? timerSet ?? new Set<NodeJS.Timeout>();
  if (o.fwd.method !== 'INVITE' && o.branches.length === 1 && !o.branches[0]!.alternates?.length) return relayOne(o, o.branches[0]!, timers);
  return relayForking(o, timers);
}

/** 100 Trying upstream when a non-INVITE over UDP has no answer after `tryingAfterMs` (RFC 4320); cleared by the caller. */
function tryingTimer<B extends RelayBranch>(o: RelayOptions<B>, timers: Set<NodeJS.Timeout>): NodeJS.Timeout | undefined {
  const ctx = o.ctx;
  if (o.tryingAfterMs === undefined || ctx.source.transport.reliable) return undefined;
  const t = setTimeout(() => {
    timers.delete(t);
    // built from the request as it came: a 100 topped by our own Via would be discarded upstream (§18.1.2)
    const tx = ctx.transaction;
    if (tx && !tx.answered) o.upstream(createResponse(tx.request, 100), undefined);
  }, o.tryingAfterMs);
  t.unref();
  timers.add(t);
  return t;
}

/**
 * A non-INVITE to a single branch (a REGISTER to the registrar, most of the SBC's work):
 * what relayForking does for it, without what only INVITE or forking needs (CANCEL,
 * ring and no-answer timers, a race against abandonment), which cost a handful of
 * closures and promises per request.
 */
async function relayOne<B extends RelayBranch>(o: RelayOptions<B>, br: B, timers: Set<NodeJS.Timeout>): Promise<RelayOutcome<B>> {
  const { stack, ctx, fwd } = o;
  if (ctx.cancelled) return { kind: 'failed', best: undefined, cancelled: true, timeouts: 0 };
  let upstreamDone = false;
  const trying = tryingTimer(o, timers);
  try {
    if (br.requestUri !== undefined) fwd.uri = br.requestUri;
    const viaParams = o.prepare?.(fwd, br) ?? undefined;
    const opts: SendOptions = {
      onResponse: (res) => {
        // 1xx before the final (a non-INVITE client transaction passes no later 2xx)
        if (res.status === 100 || res.status >= 300 || (res.status < 200 && upstreamDone)) return;
        if (o.accept && !o.accept(res, br)) return;
        res.shift('Via');
        o.upstream(res, br);
      },
    };
    if (br.destination) opts.destination = br.destination;
    if (br.transport) opts.transport = br.transport;
    if (viaParams) opts.viaParams = viaParams;
    if (o.noVia) opts.noVia = true;
    let res: SipResponse;
    try {
      res = await stack.send(fwd, opts);
    } catch {
      const status = 480;
      // answered as to the request that came (ours may not have been pushed on `fwd`)
      const toTag = randomToken();
      const local = ctx.transaction ? createResponse(ctx.transaction.request, status, undefined, { toTag }) : createResponse(fwd, status, undefined, { toTag });
      return { kind: 'failed', best: { res: local, status, local: true }, cancelled: false, timeouts: 0 };
    }
    if (!res.localReason && o.accept && !o.accept(res, br)) return { kind: 'refused', res, branch: br };
    // downstream's answer or one the stack made up (timeout, transport) from our copy: our Via goes either way
    res.shift('Via');
    if (res.status >= 200 && res.status < 300) return { kind: 'answered', res, branch: br };
    const status = effectiveStatus(res.status, res.localReason);
    return { kind: 'failed', best: { res, status, local: res.localReason !== undefined || status !== res.status }, cancelled: false, timeouts: 0 };
  } finally {
    upstreamDone = true;
    if (trying) {
      clearTimeout(trying);
      timers.delete(trying);
    }
  }
}

async function relayForking<B extends RelayBranch>(o: RelayOptions<B>, timers: Set<NodeJS.Timeout>): Promise<RelayOutcome<B>> {
  const { stack, ctx, fwd } = o;
  const invite = fwd.method === 'INVITE';
  const failover = o.failover === true;
  let cancelled = ctx.cancelled;
  let live: { cancel(): void } | undefined;
  if (invite) {
    ctx.onCancel(() => {
      cancelled = true;
      live?.cancel();
    });
  }
  let best: { res: SipResponse; status: number; local: boolean } | undefined;
  let bestRank = NO_RANK;
  let upstreamDone = false;
  let timeouts = 0;
  const pass = (res: SipResponse, br: B | undefined): void => {
    res.shift('Via');
    o.upstream(res, br);
  };
  const later = (ms: number | undefined, fn: () => void): NodeJS.Timeout | undefined => {
    if (ms === undefined) return undefined;
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    t.unref();
    timers.add(t);
    return t;
  };

  const trying = invite ? undefined : tryingTimer(o, timers);

  try {
    branches: for (const br of o.branches) {
      if (cancelled) break;
      const prepared = o.branches.length === 1 ? fwd : fwd.clone();
      if (br.requestUri !== undefined) prepared.uri = br.requestUri;
      const viaParams = o.prepare?.(prepared, br) ?? undefined;
      // the branch's address, then the other addresses of the same hop (RFC 3263 §4.3)
      const hops = br.alternates?.length && !o.noVia ? [br.destination, ...br.alternates] : [br.destination];
      for (let attempt = 0; attempt < hops.length; attempt++) {
        const lastHop = attempt === hops.length - 1;
        const out = hops.length === 1 ? prepared : prepared.clone();

        let provisional = false;
        let cancelWanted = false;
        let cancelSent = false;
        let branchFinal = false;
        const where: SendOptions = {};
        const dest = hops[attempt];
        if (dest) where.destination = dest;
        if (br.transport && attempt === 0) where.transport = br.transport;
        const sendCancel = (): void => {
          if (cancelSent || branchFinal || !invite) return;
          cancelSent = true;
          const c = o.cancel ? o.cancel(out, br) : createCancel(out);
          stack.send(c, { ...where, noVia: true }).catch(() => undefined);
        };
        let abandon!: (why: 'timeout' | 'silent' | 'cancel') => void;
        const abandoned = new Promise<'timeout' | 'silent' | 'cancel'>((resolve) => (abandon = resolve));
        live = {
          cancel: () => {
            cancelWanted = true;
            // §9.1: CANCEL only after a provisional answer; until then the caller is not kept waiting
            if (provisional) sendCancel();
            else abandon('cancel');
          },
        };

        const opts: SendOptions = {
          ...where,
          ...(viaParams ? { viaParams } : {}),
          ...(o.noVia ? { noVia: true } : {}),
          onResponse: (res) => {
            if (res.status < 200) {
              provisional = true;
              if (cancelWanted) {
                // a branch given up (cancelled, timed out) that answers late is cancelled, not heard
                sendCancel();
                return;
              }
              if (res.status === 100 || upstreamDone) return;
              if (o.accept && !o.accept(res, br)) return;
              // §16.7 step 2: a provisional other than 100 starts Timer C again
              timerC?.refresh();
              pass(res, br);
            } else if (res.status < 300) {
              // a retransmitted or forked 2xx after the first: always passed on (§16.7 step 5)
              if (o.accept && !o.accept(res, br)) return;
              pass(res, br);
            }
          },
        };

        let ring: NodeJS.Timeout | undefined;
        let quiet: NodeJS.Timeout | undefined;
        let timerC: NodeJS.Timeout | undefined;
        if (invite) {
          const giveUp = (): void => {
            cancelWanted = true;
            if (provisional) sendCancel();
            abandon('timeout');
          };
          ring = later(o.ringTimeoutMs, giveUp);
          timerC = later(o.timerCMs, giveUp);
        }
        // INVITE and failover: any address; another method: only while another address of the hop is left
        if (invite || failover || !lastHop) {
          const q = o.noAnswerTimeoutMs === undefined ? undefined : Math.min(o.noAnswerTimeoutMs, invite ? (o.ringTimeoutMs ?? Infinity) : Infinity);
          quiet = later(q, () => {
            if (provisional || branchFinal) return;
            // not even 100 Trying: nobody is there; waiting for Timer B would hold the caller
            o.onUnresponsive?.(br);
            cancelWanted = true;
            abandon('silent');
          });
        }
        const sent: Promise<SipResponse | 'error'> = stack.send(out, opts).then(
          (r) => {
            branchFinal = true;
            return r;
          },
          () => 'error' as const,
        );
        const got = await Promise.race([sent, abandoned]);
        for (const t of [ring, quiet, timerC]) {
          if (!t) continue;
          clearTimeout(t);
          timers.delete(t);
        }
        live = undefined;
        if (got === 'error' || got === 'timeout' || got === 'silent' || got === 'cancel') {
          if (got !== 'error' && invite) {
            // an abandoned branch that answers 2xx after all is still passed on
            void sent.then((late) => {
              if (late !== 'error' && late.status >= 200 && late.status < 300 && (!o.accept || o.accept(late, br))) pass(late, br);
            });
          }
          if ((got === 'error' || got === 'silent') && !lastHop && !cancelled) {
            o.onHopFailed?.(dest, br, got, fwd.method);
            continue;
          }
          if (got === 'error' && failover) o.onUnreachable?.(br);
          const status = got === 'error' ? 480 : got === 'cancel' ? 487 : 408;
          if (got === 'timeout' || got === 'silent') timeouts++;
          if (failureRank(status) < bestRank) {
            bestRank = failureRank(status);
            // answered as to the request that came (ours may not have been pushed on `out`)
            const toTag = randomToken();
            best = { res: ctx.transaction ? createResponse(ctx.transaction.request, status, undefined, { toTag }) : createResponse(out, status, undefined, { toTag }), status, local: true };
          }
          // failover: a hop that rang and ran out of time heard us; only silence moves on
          if (failover && got === 'timeout') break branches;
          continue branches;
        }
        const res = got;
        if (res.localReason && !lastHop && !cancelled && !provisional) {
          // the stack gave up on this address (its timers, or the transport): the next address of the hop
          o.onHopFailed?.(dest, br, 'error', fwd.method);
          continue;
        }
        if (res.localReason && failover && !provisional) o.onUnreachable?.(br);
        if (!res.localReason && o.accept && !o.accept(res, br)) return { kind: 'refused', res, branch: br };
        // downstream's answer or one the stack made up (timeout, transport) from our copy: our Via goes either way
        res.shift('Via');
        if (res.status >= 200 && res.status < 300) {
          upstreamDone = true;
          return { kind: 'answered', res, branch: br };
        }
        const status = effectiveStatus(res.status, res.localReason);
        const local = res.localReason !== undefined || status !== res.status;
        const rank = failureRank(status);
        if (rank < bestRank) {
          bestRank = rank;
          best = { res, status, local };
        }
        // failover: an answer from a hop that heard us ends it (only silence moves on to the next)
        if (status >= 600 || (failover && (!res.localReason || provisional))) break branches;
        continue branches;
      }
    }
  } finally {
    if (trying) {
      clearTimeout(trying);
      timers.delete(trying);
    }
  }
  upstreamDone = true;
  return { kind: 'failed', best, cancelled, timeouts };
}
