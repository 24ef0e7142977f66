/**
 * Deadlines for a terminal's exchanges with the SBC. SIP's own timers answer
 * a lost request only after 32 s, and nothing bounds a TLS handshake that a
 * silent peer never completes or an INVITE that rang and then went quiet: a
 * terminal command must end, with a clear reason, when the SBC stops
 * answering.
 */

/** Default deadline of one exchange with the SBC (a registration, a call set-up, a BYE). */
export const DEFAULT_DEADLINE_MS = 10_000;

export class DeadlineError extends Error {
  constructor(
    readonly what: string,
    readonly ms: number,
  ) {
    super(`timeout: ${what} within ${formatSeconds(ms)}`);
    this.name = 'DeadlineError';
  }
}

export function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

/** `no answer from the SBC at host:port` — what a deadline message names. */
export function noAnswerFrom(sbc: { host: string; port: number }): string {
  return `no answer from the SBC at ${sbc.host.includes(':') ? `[${sbc.host}]` : sbc.host}:${sbc.port}`;
}

/** A deadline that can be moved (a provisional answer buys the callee time to ring). */
export interface Deadline {
  /** Rejects with a DeadlineError when the time runs out. */
  readonly expired: Promise<never>;
  /** From now, `ms` more; `what` names what is awaited in the message. */
  reset(ms: number, what?: string): void;
  cancel(): void;
}

export function deadline(ms: number, what: string): Deadline {
  let timer: NodeJS.Timeout | undefined;
  let reject!: (e: Error) => void;
  const expired = new Promise<never>((_, r) => (reject = r));
  // a deadline nobody is racing any more must not be an unhandled rejection
  expired.catch(() => undefined);
  const arm = (t: number, w: string) => {
    clearTimeout(timer);
    timer = setTimeout(() => reject(new DeadlineError(w, t)), t);
  };
  arm(ms, what);
  return {
    expired,
    reset: (t, w = what) => arm(t, w),
    cancel: () => clearTimeout(timer),
  };
}

/**
 * Runs `work` under a deadline: its result, or a DeadlineError once `ms`
 * pass (then `onExpire` releases what `work` holds; its later outcome is
 * ignored).
 */
export async function withDeadline<T>(ms: number, what: string, work: Promise<T>, onExpire?: () => void | Promise<void>): Promise<T> {
  const d = deadline(ms, what);
  work.catch(() => undefined);
  try {
    return await Promise.race([work, d.expired]);
  } catch (e) {
    if (e instanceof DeadlineError) await Promise.resolve(onExpire?.()).catch(() => undefined);
    throw e;
  } finally {
    d.cancel();
  }
}

/**
 * After a deadline the CLI ends even if a socket the terminal could not
 * close (a TLS handshake the SBC never answers) would keep Node running:
 * a last-resort exit that does not itself keep the process alive.
 */
export function exitSoonAfterDeadline(code: () => number): void {
  setTimeout(() => process.exit(code()), 1000).unref();
}
