import { createHash, randomBytes } from 'node:crypto';
import type { AucService, FailureOutcome, FailureReport, RegistrationReport, VectorRequest, VectorResult } from '../../src/contracts/auc.js';
import { makeVector } from '../../src/crypto/ks1.js';
import { startH248Relay, type H248RelayHandle, type H248RelayOptions } from '../../src/sbc/h248-relay.js';
import { startH248Softswitch, type H248SoftswitchHandle, type H248SoftswitchOptions } from '../../src/softswitch/h248-mgc.js';
import { startUdpProxy, type UdpProxy } from './udp-proxy.js';

export const IDSP = 'sbc1.lab.example';
export const KSP = Buffer.alloc(32, 0x5a);
export const IDC = 'gw1@lab.example';
export const KC = Buffer.alloc(32, 0x11);

/** In-memory AuC with makeVector; remembers the session keys it made. */
export class FakeAuc implements AucService {
  readonly terminals = new Map<string, Buffer>([[IDC, KC]]);
  readonly sessionKeys: Buffer[] = [];
  readonly registrations: RegistrationReport[] = [];
  readonly failures: FailureReport[] = [];
  vectorCalls = 0;
  delayMs = 0;
  lockAfter = 5;

  async vector(req: VectorRequest): Promise<VectorResult> {
    this.vectorCalls++;
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    const kc = this.terminals.get(req.idc);
    if (!kc) return { ok: false, reason: 'unknown-terminal' };
    if (req.idsp !== IDSP) return { ok: false, reason: 'unknown-proxy' };
    if (this.failures.filter((f) => f.idc === req.idc).length >= this.lockAfter) return { ok: false, reason: 'locked', retryAfterSeconds: 60 };
    const sessionKey = randomBytes(32);
    this.sessionKeys.push(sessionKey);
    const v = makeVector({ kc, ksp: KSP, idc: req.idc, idsp: req.idsp, rand: randomBytes(16), sessionKey });
    return { ok: true, vector: { ...v, expiresAt: Date.now() + 30_000 } };
  }
  async digest() {
    return { ok: false as const, reason: 'no-sip-password' as const };
  }
  async registered(r: RegistrationReport): Promise<void> {
    this.registrations.push(r);
  }
  async deregistered(): Promise<void> {}
  async failed(r: FailureReport): Promise<FailureOutcome> {
    this.failures.push(r);
    return { locked: this.failures.filter((f) => f.idc === r.idc).length >= this.lockAfter };
  }
}

export const keyIdOf = (k: Buffer) => createHash('sha256').update(k).digest('hex').slice(0, 8);

export interface Lab {
  auc: FakeAuc;
  ss: H248SoftswitchHandle;
  sbc: H248RelayHandle;
  /** Where gateways send: the SBC, or the access proxy in front of it. */
  target: { host: string; port: number };
  access?: UdpProxy;
  core?: UdpProxy;
  close(): void;
}

type Drop = (dir: 'up' | 'down', payload: Buffer, index: number) => boolean;

/** softswitch ← [core proxy] ← SBC ← [access proxy] ← gateway, all on 127.0.0.1 with ephemeral ports. */
export async function startLab(o: { access?: Drop | true; core?: Drop | true; aucDelayMs?: number; ss?: Partial<H248SoftswitchOptions>; sbc?: Partial<H248RelayOptions> } = {}): Promise<Lab> {
  const auc = new FakeAuc();
  auc.delayMs = o.aucDelayMs ?? 0;
  const ss = await startH248Softswitch({ listen: { host: '127.0.0.1', port: 0 }, auc, ...o.ss });
  const core = o.core ? await startUdpProxy({ host: '127.0.0.1', port: ss.port }, o.core === true ? undefined : o.core) : undefined;
  const sbc = await startH248Relay({
    listen: { host: '127.0.0.1', port: 0 },
    softswitch: { host: '127.0.0.1', port: core ? core.port : ss.port },
    sbc: { idsp: IDSP, ksp: KSP },
    ...o.sbc,
  });
  const access = o.access ? await startUdpProxy({ host: '127.0.0.1', port: sbc.port }, o.access === true ? undefined : o.access) : undefined;
  const lab: Lab = {
    auc,
    ss,
    sbc,
    target: { host: '127.0.0.1', port: access ? access.port : sbc.port },
    close() {
      access?.close();
      core?.close();
      sbc.close();
      ss.close();
    },
  };
  if (access) lab.access = access;
  if (core) lab.core = core;
  return lab;
}

export const gatewayOptions = (lab: Lab, extra: Record<string, unknown> = {}) => ({
  idc: IDC,
  kc: KC,
  sbc: lab.target,
  local: { host: '127.0.0.1' },
  ...extra,
});
