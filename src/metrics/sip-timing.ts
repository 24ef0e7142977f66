/**
 * Times a SIP server transaction from the request's arrival to the first
 * response that matters, without touching the handler: the handler gets a
 * ServerContext that notes the status of each response it sends and hands
 * the rest to the real one.
 */
import type { ServerContext } from '../sip/stack.js';

/**
 * `isMark(status)` says which response ends the clock (e.g. any final one, or
 * 180/183 as well for call setup); `done(status, seconds)` is called once, for
 * the first such response.
 */
export function timedContext(ctx: ServerContext, isMark: (status: number) => boolean, done: (status: number, seconds: number) => void): ServerContext {
  const t0 = process.hrtime.bigint();
  let marked = false;
  const note = (status: number): void => {
    if (marked || !isMark(status)) return;
    marked = true;
    done(status, Number(process.hrtime.bigint() - t0) / 1e9);
  };
  return {
    get source() {
      return ctx.source;
    },
    get transaction() {
      return ctx.transaction;
    },
    get cancelled() {
      return ctx.cancelled;
    },
    set cancelled(v: boolean) {
      ctx.cancelled = v;
    },
    reply(res, opts) {
      note(res.status);
      ctx.reply(res, opts);
    },
    respond(status, reason, opts) {
      note(status);
      return ctx.respond(status, reason, opts);
    },
    onCancel(fn) {
      ctx.onCancel(fn);
    },
  };
}

export const isFinal = (status: number): boolean => status >= 200;
/** Post-dial delay: ringing or session progress tells the caller as much as a final answer. */
export const isCallProgress = (status: number): boolean => status === 180 || status === 183 || status >= 200;
