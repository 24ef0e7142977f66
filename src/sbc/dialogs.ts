/**
 * The dialogs the SBC carries: one small record per call, made when the
 * INVITE's 2xx passes and dropped on the BYE's answer (or after a maximum
 * age, for calls whose BYE never came). Nothing here is consulted to accept
 * an in-dialog request — that is the route-set signature's job, so any pool
 * instance can take it — the table is for counting, status and cleanup.
 */

export interface CarriedDialog {
  callId: string;
  /** The caller's tag (From of the INVITE) and the callee's (To of its 2xx). */
  callerTag: string;
  calleeTag: string;
  /** IDc (or AOR) of each side as the SBC saw it; undefined when not behind this SBC. */
  caller?: string;
  callee?: string;
  /** Which side(s) of the SBC the parties are on. */
  direction: 'outbound' | 'inbound';
  startedAt: number;
}

export class DialogTable {
  readonly #byKey = new Map<string, CarriedDialog>();
  #started = 0;
  #ended = 0;

  constructor(
    private readonly maxAgeMs = 24 * 3600_000,
    private readonly maxDialogs = 1_000_000,
    private readonly now: () => number = Date.now,
  ) {}

  static key(callId: string, tagA: string, tagB: string): string {
    // The same key whichever side sends: the tags are sorted.
    return tagA < tagB ? `${callId}\n${tagA}\n${tagB}` : `${callId}\n${tagB}\n${tagA}`;
  }

  /** Records a confirmed dialog; a 2xx retransmission or a second copy through the other leg does not count twice. */
  open(d: Omit<CarriedDialog, 'startedAt'>): boolean {
    const k = DialogTable.key(d.callId, d.callerTag, d.calleeTag);
    if (this.#byKey.has(k)) return false;
    if (this.#byKey.size >= this.maxDialogs) this.#byKey.delete(this.#byKey.keys().next().value!);
    this.#byKey.set(k, { ...d, startedAt: this.now() });
    this.#started++;
    return true;
  }

  get(callId: string, tagA: string, tagB: string): CarriedDialog | undefined {
    return this.#byKey.get(DialogTable.key(callId, tagA, tagB));
  }

  /** Ends a dialog (BYE answered); true if it was held. */
  close(callId: string, tagA: string, tagB: string): boolean {
    const ok = this.#byKey.delete(DialogTable.key(callId, tagA, tagB));
    if (ok) this.#ended++;
    return ok;
  }

  /** Forgets dialogs older than the maximum age; returns how many. */
  sweep(): number {
    const limit = this.now() - this.maxAgeMs;
    let n = 0;
    for (const [k, d] of this.#byKey) {
      if (d.startedAt > limit) break; // insertion order is age order
      this.#byKey.delete(k);
      n++;
    }
    return n;
  }

  get size(): number {
    return this.#byKey.size;
  }

  stats(): { active: number; started: number; ended: number } {
    return { active: this.#byKey.size, started: this.#started, ended: this.#ended };
  }
}
