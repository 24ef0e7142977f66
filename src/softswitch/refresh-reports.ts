/**
 * Which refreshes of a SIP binding the softswitch reports to the AuC
 * (docs/auc.md, "Refresh reports"). A REGISTER that only moves the expiry of
 * a binding this instance reported (same contact, IDsp, terminal address and
 * mechanism) is not reported while the AuC's recorded expiry lags the
 * binding's by at most `lagMs` (and by at most half the binding's remaining
 * life, so the record is still well alive when a report is spared).
 *
 * What this instance knows lives in memory, bounded. It is trusted only
 * while the binding is still the one this instance last wrote (its Call-ID
 * and CSeq): a binding removed and added again, or written by another
 * softswitch instance or an operator meanwhile, is reported. Losing the
 * table (a restart, an eviction) costs one report more, never one less.
 */
import type { SipBinding } from '../store/bindings.js';

/** What the AuC was last told of one binding, and the binding as this instance last wrote it. */
interface Reported {
  idsp: string;
  ipc: string;
  mechanism: string;
  /** The expiry the AuC holds. */
  expiresAt: number;
  callId: string;
  cseq: number;
}

/** The report a binding would get. */
export interface RefreshReport {
  idsp: string;
  ipc: string;
  mechanism: string;
}

export const MAX_REPORTED_BINDINGS = 200_000;

export class RefreshReports {
  readonly #byBinding = new Map<string, Reported>();

  constructor(
    /** 0: every refresh is reported. */
    private readonly lagMs: number,
    private readonly max = MAX_REPORTED_BINDINGS,
  ) {}

  get size(): number {
    return this.#byBinding.size;
  }

  /**
   * Whether the AuC need not hear of `b` (the binding after the change),
   * given the AoR's bindings before it. False whenever anything but the
   * expiry may differ from what the AuC holds.
   */
  spare(b: SipBinding, before: readonly SipBinding[], report: RefreshReport, now: number): boolean {
    if (this.lagMs <= 0) return false;
    const r = this.#byBinding.get(key(b.aor, b.contact));
    if (!r || r.idsp !== report.idsp || r.ipc !== report.ipc || r.mechanism !== report.mechanism) return false;
    let prior: SipBinding | undefined;
    for (const x of before) if (x.contact === b.contact) prior = x;
    if (!prior || prior.callId !== r.callId || prior.cseq !== r.cseq) return false;
    // Only a lag: an expiry moved earlier is reported, so the AuC never shows a registration past its binding.
    const lag = b.expiresAt - r.expiresAt;
    return lag >= 0 && lag <= Math.min(this.lagMs, (b.expiresAt - now) / 2);
  }

  /** The AuC acknowledged a report of `b`. */
  reported(b: SipBinding, report: RefreshReport): void {
    if (this.lagMs <= 0) return;
    const k = key(b.aor, b.contact);
    this.#byBinding.delete(k);
    if (this.#byBinding.size >= this.max) this.#byBinding.delete(this.#byBinding.keys().next().value!);
    this.#byBinding.set(k, { idsp: report.idsp, ipc: report.ipc, mechanism: report.mechanism, expiresAt: b.expiresAt, callId: b.callId, cseq: b.cseq });
  }

  /** `b` was written and its report spared: the AuC's expiry stays, the binding is now this write. */
  spared(b: SipBinding): void {
    const r = this.#byBinding.get(key(b.aor, b.contact));
    if (!r) return;
    r.callId = b.callId;
    r.cseq = b.cseq;
  }

  /** The binding is gone, or its report failed: the next write of it is reported. */
  forget(aor: string, contact: string): void {
    this.#byBinding.delete(key(aor, contact));
  }
}

const key = (aor: string, contact: string): string => aor + '\n' + contact;
