/**
 * How the AuC interface (src/auc/service.ts) maps onto RADIUS attributes:
 * s3/s4 as Access-Request/Accept/Reject, Digest HA1 the same way, s11 and
 * its counterparts as Accounting-Request Start/Stop/Failed. Shared by the
 * AuC's server and the softswitch's client so both sides read one table.
 */
import type {
  DeregistrationReport,
  DigestAlgorithm,
  DigestRequest,
  FailureOutcome,
  FailureReport,
  RegistrationReport,
  RejectReason,
  VectorRequest,
} from '../../contracts/auc.js';
import type { AuthVector } from '../../contracts/auc.js';
import type { Attribute } from '../../radius/codec.js';
import { hexHash } from '../../crypto/one-shot.js';

export type WireRejectReason = RejectReason | 'no-sip-password';

const REASON_TO_WIRE: Record<WireRejectReason, string> = {
  'unknown-terminal': 'Unknown-Terminal',
  'unknown-proxy': 'Unknown-Proxy',
  disabled: 'Disabled',
  locked: 'Locked',
  'no-sip-password': 'No-SIP-Password',
};
const WIRE_TO_REASON = new Map(Object.entries(REASON_TO_WIRE).map(([k, v]) => [v, k as WireRejectReason]));

export function reasonFromWire(v: string | number | undefined): WireRejectReason | undefined {
  return typeof v === 'string' ? WIRE_TO_REASON.get(v) : undefined;
}

const REPLY_MESSAGES: Record<WireRejectReason, string> = {
  'unknown-terminal': 'unknown terminal',
  'unknown-proxy': 'unknown proxy',
  disabled: 'terminal disabled',
  locked: 'terminal locked',
  'no-sip-password': 'no SIP password provisioned',
};

export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = ['MD5', 'SHA-256', 'H235-SHA1'];

const ks = (name: string, value: Attribute['value'], hidden = false): Attribute => ({ name, value, vendor: true, hidden });

/** Accounting Start and Stop of one binding share an Acct-Session-Id (RFC 2866 §5.5). */
export function bindingSessionId(idc: string, idsp: string, protocol: string, contact: string): string {
  // One-shot: a Hash object per report was 2 % of the softswitch's RADIUS client in process (bench/auc-link.ts).
  return hexHash('sha256', `${idc}\n${idsp}\n${protocol}\n${contact}`).slice(0, 16);
}

export function vectorRequestAttributes(r: VectorRequest): Attribute[] {
  return [
    { name: 'User-Name', value: r.idc },
    { name: 'NAS-Identifier', value: r.idsp },
  ];
}

export function digestRequestAttributes(r: DigestRequest, nasIdentifier: string): Attribute[] {
  return [
    { name: 'User-Name', value: r.idc },
    { name: 'NAS-Identifier', value: nasIdentifier },
    ks('Keyswitch-Digest-Username', r.username),
    ks('Keyswitch-Digest-Realm', r.realm),
    ks('Keyswitch-Digest-Algorithm', r.algorithm),
  ];
}

/** Unix seconds, rounded down: a Rand never outlives what the AuC said. */
const toDate = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);

export function vectorAcceptAttributes(v: AuthVector): Attribute[] {
  return [
    ks('Keyswitch-Rand', v.rand),
    ks('Keyswitch-Authenticator-C', v.authenticator, true),
    ks('Keyswitch-E-Kc', v.ekc),
    ks('Keyswitch-E-Ksp', v.eksp),
    ks('Keyswitch-Rand-Expires', toDate(v.expiresAt)),
  ];
}

export function digestAcceptAttributes(ha1: string, failuresPending?: boolean): Attribute[] {
  const out = [ks('Keyswitch-Digest-HA1', ha1, true)];
  if (failuresPending !== undefined) out.push(ks('Keyswitch-Failures-Pending', failuresPending ? 'Yes' : 'No'));
  return out;
}

export function rejectAttributes(reason: WireRejectReason | undefined, retryAfterSeconds?: number, message?: string): Attribute[] {
  const out: Attribute[] = [{ name: 'Reply-Message', value: message ?? (reason ? REPLY_MESSAGES[reason] : 'rejected') }];
  if (reason) out.push(ks('Keyswitch-Reject-Reason', REASON_TO_WIRE[reason]));
  if (retryAfterSeconds !== undefined) out.push(ks('Keyswitch-Retry-After', Math.max(0, Math.ceil(retryAfterSeconds))));
  return out;
}

export function registeredAttributes(r: RegistrationReport): Attribute[] {
  const out: Attribute[] = [
    { name: 'Acct-Status-Type', value: 'Start' },
    { name: 'User-Name', value: r.idc },
    { name: 'NAS-Identifier', value: r.idsp },
    { name: 'Acct-Session-Id', value: bindingSessionId(r.idc, r.idsp, r.protocol, r.contact) },
    { name: 'Event-Timestamp', value: new Date(Math.floor(Date.now() / 1000) * 1000) },
    ks('Keyswitch-Terminal-Address', r.ipc),
    ks('Keyswitch-Protocol', r.protocol),
    ks('Keyswitch-Contact', r.contact),
    ks('Keyswitch-Mechanism', r.mechanism),
    ks('Keyswitch-Registration-Expires', toDate(r.expiresAt)),
  ];
  if (r.rand) out.push(ks('Keyswitch-Rand', r.rand));
  return out;
}

export function deregisteredAttributes(r: DeregistrationReport): Attribute[] {
  const out: Attribute[] = [
    { name: 'Acct-Status-Type', value: 'Stop' },
    { name: 'User-Name', value: r.idc },
    { name: 'NAS-Identifier', value: r.idsp },
    { name: 'Acct-Session-Id', value: bindingSessionId(r.idc, r.idsp, r.protocol, r.contact ?? '') },
    { name: 'Event-Timestamp', value: new Date(Math.floor(Date.now() / 1000) * 1000) },
    ks('Keyswitch-Protocol', r.protocol),
  ];
  if (r.contact) out.push(ks('Keyswitch-Contact', r.contact));
  return out;
}

export function failedAttributes(r: FailureReport, sessionId: string): Attribute[] {
  const out: Attribute[] = [
    { name: 'Acct-Status-Type', value: 'Failed' },
    { name: 'User-Name', value: r.idc },
    { name: 'NAS-Identifier', value: r.idsp },
    { name: 'Acct-Session-Id', value: sessionId },
    { name: 'Event-Timestamp', value: new Date(Math.floor(Date.now() / 1000) * 1000) },
  ];
  if (r.rand) out.push(ks('Keyswitch-Rand', r.rand));
  return out;
}

export function failureOutcomeAttributes(o: FailureOutcome): Attribute[] {
  const out: Attribute[] = [ks('Keyswitch-Locked', o.locked ? 'Yes' : 'No')];
  if (o.retryAfterSeconds !== undefined) out.push(ks('Keyswitch-Retry-After', Math.max(0, Math.ceil(o.retryAfterSeconds))));
  return out;
}
