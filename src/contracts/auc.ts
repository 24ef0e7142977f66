/**
 * What the AuC offers the softswitch (steps s3/s4 and s11 of docs/design.md),
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

/**
 * `H235-SHA1` is not a SIP algorithm: it asks for K = SHA-1(password), the
 * H.235.1 key of a plain H.323 endpoint (docs/h323.md), carried and hidden
 * as HA1 is.
 */
export type DigestAlgorithm = 'MD5' | 'SHA-256' | 'H235-SHA1';

/** For SIP Digest phones: HA1 = H(username:realm:password); the password itself never leaves the AuC. */
export interface DigestRequest {
  idc: string;
  username: string;
  realm: string;
  algorithm: DigestAlgorithm;
}

export type DigestResult =
  | {
      ok: true;
      ha1: string;
      /**
       * The AuC holds a failure record for this IDc, which a success report
       * using this answer's grant clears: the softswitch must report the
       * registration even when its binding did not change. Absent (an AuC or
       * link that does not say): report.
       */
      failuresPending?: boolean;
    }
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

/**
 * Who is asking, as the wire server authenticated it: `diameter:<Origin-Host>`
 * (lower case) or `radius:<client address>`. A challenge remembers its
 * requester, and a report on it (s11 success or failure) is accepted only
 * from that same requester. In-process callers pass none and are not bound.
 */
export type Requester = string;

export interface AucService {
  vector(req: VectorRequest, from?: Requester): Promise<VectorResult>;
  digest(req: DigestRequest, from?: Requester): Promise<DigestResult>;
  registered(r: RegistrationReport, from?: Requester): Promise<void>;
  deregistered(r: DeregistrationReport, from?: Requester): Promise<void>;
  failed(r: FailureReport, from?: Requester): Promise<FailureOutcome>;
}

/**
 * A report that refers to no challenge of its sender: another peer's Rand, an
 * unknown one, or a Digest outcome with no HA1 handed to that sender. The wire
 * servers refuse it (Diameter 5003, RADIUS no answer); it is not counted.
 */
export class ReportRefusedError extends Error {
  constructor() {
    super('report refers to no challenge of this peer');
    this.name = 'ReportRefusedError';
  }
}

/** Raised by AuC clients when no AuC peer answers in time (softswitch answers 503). */
export class AucUnavailableError extends Error {
  constructor(message = 'no AuC peer answered') {
    super(message);
    this.name = 'AucUnavailableError';
  }
}
