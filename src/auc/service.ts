/**
 * What the AuC offers the softswitch (steps s3/s4 and s11 of DESIGN.md),
 * independent of the wire: the RADIUS and Diameter servers expose an
 * AucService, and the softswitch's RADIUS and Diameter clients implement it.
 */

export type RejectReason = 'unknown-terminal' | 'unknown-proxy' | 'disabled' | 'locked';

export interface VectorRequest {
  idc: string;
  idsp: string;
}

/** s4: an authentication vector for a fresh session key Kc,sp. */
export interface AuthVector {
  idc: string;
  idsp: string;
  rand: Buffer; // 16 bytes
  authenticator: Buffer; // 16 bytes, f(Kc, Rand, IDc)
  ekc: Buffer; // E_Kc[Kc,sp]
  eksp: Buffer; // E_Ksp[Kc,sp]
  expiresAt: number; // Unix ms after which the Rand is refused
}

export type VectorResult =
  | { ok: true; vector: AuthVector }
  | { ok: false; reason: RejectReason; retryAfterSeconds?: number };

export type DigestAlgorithm = 'MD5' | 'SHA-256';

/** For SIP Digest phones: HA1 = H(username:realm:password); the password itself never leaves the AuC. */
export interface DigestRequest {
  idc: string;
  username: string;
  realm: string;
  algorithm: DigestAlgorithm;
}

export type DigestResult =
  | { ok: true; ha1: string }
  | { ok: false; reason: RejectReason | 'no-sip-password'; retryAfterSeconds?: number };

/** s11: registration success, as seen by the SBC. */
export interface RegistrationReport {
  idc: string;
  idsp: string;
  ipc: string;
  protocol: string; // sip | mgcp | h248 | h323
  contact: string;
  mechanism: string; // chosen mechanism, '' for Digest
  expiresAt: number; // Unix ms
  rand?: Buffer; // the consumed challenge (KS1)
}

export interface DeregistrationReport {
  idc: string;
  idsp: string;
  protocol: string;
  contact?: string;
}

/** A failed authenticator compare (s9 failure); counts toward lockout. */
export interface FailureReport {
  idc: string;
  idsp: string;
  rand?: Buffer;
}

export interface FailureOutcome {
  locked: boolean;
  retryAfterSeconds?: number;
}

export interface AucService {
  vector(req: VectorRequest): Promise<VectorResult>;
  digest(req: DigestRequest): Promise<DigestResult>;
  registered(r: RegistrationReport): Promise<void>;
  deregistered(r: DeregistrationReport): Promise<void>;
  failed(r: FailureReport): Promise<FailureOutcome>;
}

/** Raised by AuC clients when no AuC peer answers in time (softswitch answers 503). */
export class AucUnavailableError extends Error {
  constructor(message = 'no AuC peer answered') {
    super(message);
    this.name = 'AucUnavailableError';
  }
}
