/**
 * The messages between `keyswitch up` and the process of each of its roles
 * (src/cli/up-supervisor.ts, src/cli/up-child.ts), over Node's IPC channel.
 * Signalling never crosses it: roles talk over their real sockets (RADIUS or
 * Diameter, the SIP core link). It carries what one command owes its
 * operator: start, the listeners to print, the merged /metrics and /healthz,
 * and the AuC API's calls on the SBC (docs/operations.md).
 */
import type { HealthReport } from '../metrics/health.js';

export type UpRole = 'auc' | 'softswitch' | 'sbc' | 'media';
export const UP_ROLES: readonly UpRole[] = ['auc', 'softswitch', 'sbc', 'media'];

/** Names the role a forked `keyswitch up` process runs (set by the supervisor only, with an IPC channel). */
export const UP_ROLE_ENV = 'KEYSWITCH_UP_ROLE';

export interface Listening {
  name: string;
  address: string;
}

/** The SBC's operator calls (src/control/live-roles.ts LiveSbc). */
export type LiveCall = { op: 'blocks' } | { op: 'unblock'; source: string } | { op: 'sourceFailures'; max: number } | { op: 'dropSession'; idc: string; before: number };

/** A question one side asks the other; answered by a `res` with the same id. */
export type Question = { op: 'metrics' } | { op: 'health' } | { op: 'live'; call: LiveCall } | { op: 'totals'; names: string[] };

export type Answer = { t: 'res'; id: number; ok: true; value: unknown } | { t: 'res'; id: number; ok: false; error: string };

export type ToChild = { t: 'start' } | { t: 'sbc'; live: { instance: string; idsp: string } | null } | ({ t: 'req'; id: number } & Question) | Answer;

export type FromChild =
  | { t: 'loaded' }
  | { t: 'ready'; listening: Listening[]; sbc?: { instance: string; idsp: string } }
  | { t: 'failed'; message: string; user: boolean }
  | ({ t: 'req'; id: number } & Question)
  | Answer;

export type { HealthReport };

/** Questions in flight over one channel, each with a deadline. */
export class Questions {
  #next = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  constructor(private readonly send: (m: { t: 'req'; id: number } & Question) => boolean) {}

  ask<T>(q: Question, timeoutMs: number): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`no answer to ${q.op} within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      let sent = false;
      try {
        sent = this.send({ t: 'req', id, ...q });
      } catch {
        sent = false;
      }
      if (!sent) this.settle({ t: 'res', id, ok: false, error: 'channel closed' });
    });
  }

  settle(a: Answer): void {
    const p = this.#pending.get(a.id);
    if (!p) return;
    this.#pending.delete(a.id);
    clearTimeout(p.timer);
    if (a.ok) p.resolve(a.value);
    else p.reject(new Error(a.error));
  }

  /** The other side is gone: every question fails now rather than at its deadline. */
  failAll(reason: string): void {
    for (const id of [...this.#pending.keys()]) this.settle({ t: 'res', id, ok: false, error: reason });
  }
}

/** Answers a question with `handle`'s value, or its error's message. */
export async function answer(id: number, handle: () => Promise<unknown>, send: (a: Answer) => void): Promise<void> {
  let a: Answer;
  try {
    a = { t: 'res', id, ok: true, value: await handle() };
  } catch (err) {
    a = { t: 'res', id, ok: false, error: String((err as Error)?.message ?? err) };
  }
  try {
    send(a);
  } catch {
    /* the channel closed meanwhile */
  }
}
