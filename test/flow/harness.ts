import { createHash } from 'node:crypto';
import {
  AucUnavailableError,
  type AucService,
  type DeregistrationReport,
  type DigestResult,
  type FailureOutcome,
  type FailureReport,
  type RegistrationReport,
  type VectorRequest,
  type VectorResult,
} from '../../src/contracts/auc.js';
import { makeVector } from '../../src/crypto/ks1.js';
import { SbcFlow, SoftswitchFlow, TerminalFlow, type Mechanism, type SbcSession, type TerminalSession } from '../../src/flow/index.js';

/** Deterministic random bytes from a seed (tests only). */
export function seededRandom(seed: string): (n: number) => Buffer {
  let counter = 0;
  return (n: number) => {
    const out = Buffer.alloc(n);
    for (let off = 0; off < n; off += 32) {
      createHash('sha256').update(`${seed}/${counter++}`).digest().copy(out, off);
    }
    return out;
  };
}

export class ManualClock {
  constructor(public ms = 1_764_097_200_000) {}
  readonly now = (): number => this.ms;
  advance(sec: number): void {
    this.ms += sec * 1000;
  }
}

/** An in-memory AuC that makes vectors with makeVector. */
export class FakeAuc implements AucService {
  readonly terminals = new Map<string, { kc: Buffer; disabled?: boolean }>();
  readonly proxies = new Map<string, Buffer>();
  readonly failures = new Map<string, number>();
  readonly registrations: RegistrationReport[] = [];
  readonly failedReports: FailureReport[] = [];
  lockAfter = 3;
  lockSeconds = 300;
  down = false;
  vectorTtlMs = 30_000;

  constructor(
    private readonly clock: () => number,
    private readonly random: (n: number) => Buffer,
  ) {}

  async vector(req: VectorRequest): Promise<VectorResult> {
    if (this.down) throw new AucUnavailableError();
    const t = this.terminals.get(req.idc);
    if (!t) return { ok: false, reason: 'unknown-terminal' };
    if (t.disabled) return { ok: false, reason: 'disabled' };
    const ksp = this.proxies.get(req.idsp);
    if (!ksp) return { ok: false, reason: 'unknown-proxy' };
    if ((this.failures.get(req.idc) ?? 0) >= this.lockAfter) return { ok: false, reason: 'locked', retryAfterSeconds: this.lockSeconds };
    const v = makeVector({ kc: t.kc, ksp, idc: req.idc, idsp: req.idsp, rand: this.random(16), sessionKey: this.random(32) });
    return { ok: true, vector: { ...v, expiresAt: this.clock() + this.vectorTtlMs } };
  }
  async digest(): Promise<DigestResult> {
    return { ok: false, reason: 'no-sip-password' };
  }
  async registered(r: RegistrationReport): Promise<void> {
    if (this.down) throw new AucUnavailableError();
    this.registrations.push(r);
  }
  async deregistered(_r: DeregistrationReport): Promise<void> {}
  async failed(r: FailureReport): Promise<FailureOutcome> {
    if (this.down) throw new AucUnavailableError();
    this.failedReports.push(r);
    const n = (this.failures.get(r.idc) ?? 0) + 1;
    this.failures.set(r.idc, n);
    return n >= this.lockAfter ? { locked: true, retryAfterSeconds: this.lockSeconds } : { locked: false };
  }
}

export const TERMINAL_MECHS = 'tls-psk;q=0.5, app-hmac;q=0.3';
export const SBC_OFFER: Mechanism[] = [
  { name: 'tls-psk', q: 0.5 },
  { name: 'app-hmac', q: 0.3 },
];

export interface Lab {
  clock: ManualClock;
  random: (n: number) => Buffer;
  auc: FakeAuc;
  sbc: SbcFlow;
  softswitch: SoftswitchFlow;
  kc: Buffer;
  ksp: Buffer;
  terminal(o?: { idc?: string; kc?: Buffer; idsp?: string; mechanisms?: string }): TerminalFlow;
}

export function makeLab(o: { seed?: string; idc?: string; idsp?: string; offered?: Mechanism[]; kc?: Buffer; ksp?: Buffer } = {}): Lab {
  const clock = new ManualClock();
  const random = seededRandom(o.seed ?? 'lab');
  const idc = o.idc ?? 'alice@lab.example';
  const idsp = o.idsp ?? 'sbc1.lab.example';
  const kc = o.kc ?? random(32);
  const ksp = o.ksp ?? random(32);
  const auc = new FakeAuc(clock.now, random);
  auc.terminals.set(idc, { kc });
  auc.proxies.set(idsp, ksp);
  const sbc = new SbcFlow({ idsp, ksp, offered: o.offered ?? SBC_OFFER, clock: clock.now, random });
  const softswitch = new SoftswitchFlow({ auc, clock: clock.now, random });
  return {
    clock, random, auc, sbc, softswitch, kc, ksp,
    terminal: (t = {}) =>
      new TerminalFlow({ idc: t.idc ?? idc, kc: t.kc ?? kc, idsp: t.idsp, mechanisms: t.mechanisms ?? TERMINAL_MECHS, clock: clock.now, random }),
  };
}

export const BINDING = { protocol: 'sip', contact: '<sip:alice@192.0.2.10:5060>', expiresAt: 1_764_100_800_000 };

/** Runs s1..s11 and fails loudly at the first step that does not go the happy way. */
export async function registerAll(lab: Lab, terminal: TerminalFlow): Promise<{ t: TerminalSession; sbc: SbcSession }> {
  const s1 = terminal.start();
  const r1 = lab.sbc.onRegister(s1);
  if (!r1.ok) throw new Error(`s1: ${r1.kind}`);
  const r2 = await lab.softswitch.onRegister(r1.s2);
  if (r2.kind !== 'challenge') throw new Error(`s2: ${r2.kind}`);
  const r5 = lab.sbc.onChallenge(r2.s5, s1);
  if (!r5.ok) throw new Error(`s5: ${r5.kind}`);
  const r6 = terminal.onChallenge(r5.s6);
  if (!r6.ok) throw new Error(`s6: ${r6.error}`);
  const r7 = lab.sbc.onAuthenticate(r6.value, '192.0.2.10');
  if (!r7.ok) throw new Error(`s7: ${r7.kind}`);
  const r8 = await lab.softswitch.onAuthenticate(r7.s8, BINDING);
  if (r8.kind !== 'accepted') throw new Error(`s8: ${r8.kind}`);
  const r9 = lab.sbc.onAccepted(r8.s9, r7.pending);
  if (!r9.ok) throw new Error(`s9: ${r9.kind}`);
  const r10 = terminal.onSuccess(r9.s10);
  if (!r10.ok) throw new Error(`s10: ${r10.error}`);
  return { t: r10.value, sbc: r9.session };
}
