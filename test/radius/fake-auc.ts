import { randomBytes } from 'node:crypto';
import type {
  AucService,
  AuthVector,
  DeregistrationReport,
  DigestRequest,
  DigestResult,
  FailureOutcome,
  FailureReport,
  RegistrationReport,
  VectorRequest,
  VectorResult,
} from '../../src/contracts/auc.js';

/** An in-memory AuC: knows a few terminals, records every call. */
export class FakeAuc implements AucService {
  readonly vectors: AuthVector[] = [];
  readonly calls: { method: string; arg: unknown }[] = [];
  readonly registrations: RegistrationReport[] = [];
  readonly deregistrations: DeregistrationReport[] = [];
  readonly failures: FailureReport[] = [];
  failuresUntilLock = 3;
  /** When set, the next call throws (an AuC-internal failure). */
  breakNext = false;

  private record(method: string, arg: unknown): void {
    this.calls.push({ method, arg });
    if (this.breakNext) {
      this.breakNext = false;
      throw new Error('database unavailable');
    }
  }

  async vector(req: VectorRequest): Promise<VectorResult> {
    this.record('vector', req);
    if (req.idc.startsWith('locked')) return { ok: false, reason: 'locked', retryAfterSeconds: 120 };
    if (req.idc.startsWith('unknown')) return { ok: false, reason: 'unknown-terminal' };
    if (req.idsp !== 'sbc1.lab.example') return { ok: false, reason: 'unknown-proxy' };
    const v: AuthVector = {
      idc: req.idc,
      idsp: req.idsp,
      rand: randomBytes(16),
      authenticator: randomBytes(16),
      ekc: randomBytes(60),
      eksp: randomBytes(60),
      expiresAt: Date.now() + 30_000,
    };
    this.vectors.push(v);
    return { ok: true, vector: v };
  }

  async digest(req: DigestRequest): Promise<DigestResult> {
    this.record('digest', req);
    if (req.idc.startsWith('nopw')) return { ok: false, reason: 'no-sip-password' };
    const len = req.algorithm === 'MD5' ? 32 : 64;
    return { ok: true, ha1: 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90'.slice(0, len) };
  }

  async registered(r: RegistrationReport): Promise<void> {
    this.record('registered', r);
    this.registrations.push(r);
  }

  async deregistered(r: DeregistrationReport): Promise<void> {
    this.record('deregistered', r);
    this.deregistrations.push(r);
  }

  async failed(r: FailureReport): Promise<FailureOutcome> {
    this.record('failed', r);
    this.failures.push(r);
    const n = this.failures.filter((f) => f.idc === r.idc).length;
    return n >= this.failuresUntilLock ? { locked: true, retryAfterSeconds: 60 } : { locked: false };
  }
}
