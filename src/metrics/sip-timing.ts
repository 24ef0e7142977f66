/**
 * Times a SIP server transaction from the request's arrival to the first
 * response that matters, without touching the handler: the handler gets a
 * ServerContext that notes the status of each response it sends and hands
 * the rest to the real one.
 */
import type { ServerContext } from '../sip/stack.js';
import type { SipResponse } from '../sip/message.js';

/**
 * `isMark(status)` says which response ends the clock (e.g. any final one, or
 * 180/183 as well for call setup); `done(status, seconds)` is called once, for
 * the first such response.
 */
export function timedContext(ctx: ServerContext, isMark: (status: number) => boolean, done: (status: number, seconds: number) => void): ServerContext {
  return new TimedContext(ctx, isMark, done);
}

/** A class, not an object literal with accessors: one is made per request, and a literal's getters are built per instance. */
class TimedContext implements ServerContext {
  readonly #ctx: ServerContext;
  readonly #isMark: (status: number) => boolean;
  readonly #done: (status: number, seconds: number) => void;
  readonly #t0 = performance.now();
  #marked = false;

  constructor(ctx: ServerContext, isMark: (status: number) => boolean, done: (status: number, seconds: number) => void) {
    this.#ctx = ctx;
    this.#isMark = isMark;
    this.#done = done;
  }

  get source(): ServerContext['source'] {
    return this.#ctx.source;
  }

  get transaction(): ServerContext['transaction'] {
    return this.#ctx.transaction;
  }

  get cancelled(): boolean {
    return this.#ctx.cancelled;
  }

  set cancelled(v: boolean) {
    this.#ctx.cancelled = v;
  }

  reply(res: SipResponse, opts?: { forwarded?: boolean }): void {
    this.#note(res.status);
    this.#ctx.reply(res, opts);
  }

  respond(status: number, reason?: string, opts?: Parameters<ServerContext['respond']>[2]): SipResponse {
    this.#note(status);
    return this.#ctx.respond(status, reason, opts);
  }

  onCancel(fn: () => void): void {
    this.#ctx.onCancel(fn);
  }

  #note(status: number): void {
    if (this.#marked || !this.#isMark(status)) return;
    this.#marked = true;
    this.#done(status, (performance.now() - this.#t0) / 1000);
  }
}

export const isFinal = (status: number): boolean => status >= 200;
/** Post-dial delay: ringing or session progress tells the caller as much as a final answer. */
export const isCallProgress = (status: number): boolean => status === 180 || status === 183 || status >= 200;
