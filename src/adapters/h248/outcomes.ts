import type { SbcReject } from '../../flow/sbc.js';
import type { SwAuthenticateOutcome, SwRegisterOutcome } from '../../flow/softswitch.js';
import { H248_ERROR } from '../../h248/errors.js';
import type { ErrorDescriptor } from '../../h248/types.js';

/**
 * Flow outcomes → H.248.8 errors (the text says why):
 *
 *   402 Unauthorized                 a new challenge follows (wrong authenticator,
 *                                    stale Rand, N2/TS/N1 checks), or an s1 refused
 *                                    for TS/N1 replay; after registration, a
 *                                    missing/wrong/replayed Annex B header
 *   504 Command from unauthorized    an SBC the AuC does not know, or a message
 *       entity                       naming another SBC (an unknown, disabled or
 *                                    locked IDc is challenged with a decoy and
 *                                    fails as a wrong key does: 402)
 *   457 / 449                        a ks field missing / malformed, or no
 *                                    mechanism in common (449, with the offer)
 *   503 Service Unavailable          AuC unreachable, tables full
 *   500 Internal failure             the core answered something inconsistent
 */

export function sbcRejectError(r: SbcReject): ErrorDescriptor {
  switch (r.kind) {
    case 'bad-request':
      return { code: H248_ERROR.unknownParameterValue, text: `bad ${r.field}` };
    case 'wrong-proxy':
      return { code: H248_ERROR.unauthorizedEntity, text: 'wrong-proxy' };
    case 'refused':
      return { code: H248_ERROR.unauthorized, text: r.reason };
    case 'rechallenge':
      return { code: H248_ERROR.unauthorized, text: `${r.reason}; new challenge follows` };
    case 'no-common-mechanism':
      return { code: H248_ERROR.unknownParameterValue, text: `no common mechanism; offered: ${r.offered.text}` };
    case 'busy':
      return { code: H248_ERROR.unavailable, text: 'busy' };
    case 'internal':
      return { code: H248_ERROR.internal, text: r.reason };
  }
}

/** Errors for softswitch outcomes other than `challenge` on s2 and `accepted` on s8. */
export function softswitchError(o: SwRegisterOutcome | SwAuthenticateOutcome): ErrorDescriptor | undefined {
  switch (o.kind) {
    case 'forbidden':
      return { code: H248_ERROR.unauthorizedEntity, text: o.reason };
    case 'unavailable':
      return { code: H248_ERROR.unavailable, text: o.cause };
    case 'bad-request':
      return { code: H248_ERROR.unknownParameterValue, text: `bad ${o.field}` };
    case 'challenge':
      return o.reason ? { code: H248_ERROR.unauthorized, text: `${o.reason}; new challenge follows` } : undefined;
    default:
      return undefined;
  }
}
