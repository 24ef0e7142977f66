/**
 * One SIP terminal registration, end to end: KS1 through the SBC, the chosen
 * mechanism applied, and proved by a protected REGISTER refresh and an
 * OPTIONS round trip (answered by the SBC itself).
 */
import { noAnswerFrom, withDeadline } from './deadline.js';
import { SipTerminal, SipTerminalError, type SipTerminalOptions } from './sip-terminal.js';

export type SipRegisterOptions = SipTerminalOptions & {
  /** The whole registration, KS1 to the protected OPTIONS, must end within this (default: SIP's own timers only). */
  deadlineMs?: number;
};

export type RegisterResult =
  | { ok: true; protocol: 'sip'; idc: string; idsp: string; mechanism: string; sessionKeyId: string; ms: number }
  | { ok: false; protocol: 'sip'; idc: string; error: string; authFailed: boolean; status?: number; ms: number };

export async function registerSip(o: SipRegisterOptions): Promise<RegisterResult> {
  const t0 = performance.now();
  const term = new SipTerminal(o);
  const ms = (): number => Math.round((performance.now() - t0) * 10) / 10;
  const steps = (async () => {
    await term.registerKs1();
    const r = await term.applyMechanism();
    await term.refresh();
    await term.options();
    return r;
  })();
  try {
    const r = o.deadlineMs === undefined ? await steps : await withDeadline(o.deadlineMs, noAnswerFrom(o.sbc), steps, () => term.close());
    return { ok: true, protocol: 'sip', idc: o.idc, idsp: r.idsp, mechanism: r.mechanism, sessionKeyId: r.sessionKeyId, ms: ms() };
  } catch (e) {
    const err = e instanceof SipTerminalError ? e : new SipTerminalError((e as Error).message ?? String(e), false);
    const out: RegisterResult = { ok: false, protocol: 'sip', idc: o.idc, error: err.code, authFailed: err.auth, ms: ms() };
    if (err.status !== undefined) out.status = err.status;
    return out;
  } finally {
    await term.close().catch(() => undefined);
  }
}
