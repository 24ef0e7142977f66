/**
 * Flow outcomes as RAS reject reasons (docs/h323.md, "Failures"):
 *
 *   securityDenial                      a challenge (GRJ, s5/s6); a wrong authenticator or
 *                                       password (RRJ): an unknown, disabled or locked
 *                                       identity gets exactly this too
 *   securityError/securityReplay        a new challenge follows a stale or replayed step
 *   securityError/securityWrongSyncTime TS outside the window
 *   securityError/securityWrongGeneralID  another SBC named, or an SBC the AuC does not know
 *   neededFeatureNotSupported           nothing in common with the offer (the offer attached)
 *   resourceUnavailable                 AuC unreachable, tables full, the other leg silent
 *   undefinedReason                     a KS1 field missing or malformed, core inconsistency
 */
import type { SbcReject } from '../../flow/sbc.js';
import type { SecurityErrors } from '../../h323/index.js';
import { R } from './messages.js';

/** The reasons GRJ and RRJ share, so either message can carry them. */
export type Reason =
  | { type: 'resourceUnavailable' | 'undefinedReason' | 'securityDenial' | 'neededFeatureNotSupported'; value: null }
  | { type: 'securityError'; value: SecurityErrors };

const COMMON = new Set(['resourceUnavailable', 'undefinedReason', 'securityDenial', 'securityError', 'neededFeatureNotSupported']);

/** A reason relayed from the other leg, as one both GRJ and RRJ can carry (others become undefinedReason). */
export function commonReason(r: { type: string }): Reason {
  return COMMON.has(r.type) ? (r as Reason) : R.undefinedReason;
}

export function sbcRejectReason(r: SbcReject): Reason {
  switch (r.kind) {
    case 'wrong-proxy':
      return R.securityError('securityWrongGeneralID');
    case 'refused':
    case 'rechallenge':
      return R.securityError(r.reason === 'ts-window' ? 'securityWrongSyncTime' : 'securityReplay');
    case 'no-common-mechanism':
      return R.neededFeatureNotSupported;
    case 'busy':
      return R.resourceUnavailable;
    case 'bad-request':
    case 'internal':
      return R.undefinedReason;
  }
}

/** A softswitch refusal other than a challenge. */
export function softswitchReason(o: { kind: 'forbidden' | 'unavailable' | 'bad-request' }): Reason {
  if (o.kind === 'forbidden') return R.securityError('securityWrongGeneralID');
  if (o.kind === 'unavailable') return R.resourceUnavailable;
  return R.undefinedReason;
}

/** A reject reason a terminal should answer with a new s7 (the challenge it carries is fresh). */
export function isRetry(r: { type: string; value?: unknown }): boolean {
  if (r.type !== 'securityError') return false;
  const e = (r.value as { type: string }).type;
  return e === 'securityReplay' || e === 'securityWrongSyncTime';
}
