/**
 * One SIP terminal registration, end to end: KS1 through the SBC, the chosen
 * mechanism applied, and proved by a protected REGISTER refresh and an
 * OPTIONS round trip (answered by the SBC itself).
 */
import { SipTerminal, SipTerminalError, type SipTerminalOptions } from './sip-terminal.js';

export type SipRegisterOptions = SipTerminalOptions;

export type RegisterResult =
  | { ok: true; protocol: 'sip'; idc: string; idsp: string; mechanism: string; sessionKeyId: string; ms: number }
  | { ok: false; protocol: 'sip'; idc: string; error: string; authFailed: boolean; status?: number; ms: number };

export async function registerSip(o: SipRegisterOptions): Promise<RegisterResult> {
  const t0 = performance.now();
  const term = new SipTerminal(o);
  const ms = (): number => Math.round((performance.now() - t0) * 10) / 10;
  try {
    await term.registerKs1();
    const r = await term.applyMechanism();
    await term.refresh();
    await term.options();
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
