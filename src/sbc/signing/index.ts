/** SBC header signing (docs/header-signing.md). */
export { KeyRing, openSigningKeys, isKeyId, DEFAULT_ROTATE_MS, DEFAULT_VIA_LIFETIME_MS, DEFAULT_RR_LIFETIME_MS, type SigningKey, type SigningKeys, type SigningPurpose, type KeyRingOptions, type SigningKeysOptions } from './keyring.js';
export { HeaderSigner, PARAM, type Verdict, type FailReason, type SignatureCheck, type FailureSink, type HeaderSignerOptions } from './sip-signatures.js';
export { SignatureGuard, type SignatureGuardOptions, type GuardAlert } from './guard.js';
export { signingFailureSink, SIGNING_METRICS } from './metrics.js';
export { canonicalUri, canonicalVia, viaInput, rrInput, routeSetInput } from './canonical.js';
