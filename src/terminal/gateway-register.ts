import { DeadlineError, noAnswerFrom, withDeadline } from './deadline.js';
import { registerH248Gateway } from './h248-gateway.js';
import { registerMgcpGateway } from './mgcp-gateway.js';
import type { RegisterResult } from './register.js';

export type GatewayProtocol = 'mgcp' | 'h248';

export interface GatewayRegisterOptions {
  proto: GatewayProtocol;
  idc: string;
  kc: Buffer;
  sbc: { host: string; port: number };
  mechs?: string;
  idsp?: string;
  /** Registration and its proof must end within this (default: the gateways' own timers). */
  deadlineMs?: number;
}

/** Only what the terminal CLI reports; the key id is not the key. */
export type GatewayResult =
  | { ok: true; protocol: GatewayProtocol; idc: string; idsp: string; mechanism: string; sessionKeyId: string; ms: number }
  | { ok: false; protocol: GatewayProtocol; idc: string; error: string; authFailed: boolean; ms: number };

/**
 * Registers a media gateway over MGCP or H.248 and then proves the chosen
 * mechanism with one protected command (MGCP AUEP, H.248 Notify), as the SIP
 * terminal proves its own with a protected refresh and OPTIONS.
 */
export async function registerGateway(o: GatewayRegisterOptions): Promise<GatewayResult> {
  const t0 = performance.now();
  const work = registerGatewayUnbounded(o, t0);
  if (o.deadlineMs === undefined) return work;
  try {
    // what is still running past the deadline ends on the gateways' own timers (given the same bound) and closes its socket
    return await withDeadline(o.deadlineMs, noAnswerFrom(o.sbc), work);
  } catch (e) {
    if (!(e instanceof DeadlineError)) throw e;
    return { ok: false, protocol: o.proto, idc: o.idc, error: e.message, authFailed: false, ms: Math.round((performance.now() - t0) * 10) / 10 };
  }
}

async function registerGatewayUnbounded(o: GatewayRegisterOptions, t0: number): Promise<GatewayResult> {
  const ms = () => Math.round((performance.now() - t0) * 10) / 10;
  const base = {
    idc: o.idc, kc: o.kc, sbc: o.sbc, ...(o.mechs ? { mechs: o.mechs } : {}), ...(o.idsp ? { idsp: o.idsp } : {}),
    ...(o.deadlineMs !== undefined ? { timeoutMs: o.deadlineMs } : {}),
  };
  const fail = (error: string, authFailed: boolean): GatewayResult => ({ ok: false, protocol: o.proto, idc: o.idc, error, authFailed, ms: ms() });
  if (o.proto === 'mgcp') {
    // An ephemeral local port: many gateways (and the CLI beside a real one) on one host.
    const r = await registerMgcpGateway({ ...base, listen: { port: 0 } });
    if (!r.ok) return fail(r.message, r.kind === 'auth-failed');
    try {
      const probe = await r.gateway.command('AUEP');
      if (!probe.ok || probe.response.code >= 300) return fail(`protected AUEP after registration was refused (${probe.ok ? probe.response.code : probe.error})`, false);
    } finally {
      await r.gateway.close();
    }
    return { ok: true, protocol: 'mgcp', idc: o.idc, idsp: r.idsp, mechanism: r.mechanism, sessionKeyId: r.sessionKeyId, ms: ms() };
  }
  const r = await registerH248Gateway({ ...base, keepOpen: true });
  if (!r.ok) return fail(r.message, r.kind === 'auth-failed');
  try {
    const probe = await r.gateway!.notify('ROOT', 'g/sc', {});
    if (!probe.ok) return fail(`protected Notify after registration was refused (${probe.code ?? ''} ${probe.message})`, false);
  } finally {
    r.gateway?.close();
  }
  return { ok: true, protocol: 'h248', idc: o.idc, idsp: r.idsp, mechanism: r.mechanism, sessionKeyId: r.sessionKeyId, ms: ms() };
}

export type AnyRegisterResult = RegisterResult | GatewayResult;
