/**
 * H.323 codec: ALIGNED PER primitives (per/) and the H.225.0 RAS messages
 * with their H.235 tokens (ras/), and the UDP transport with H.225.0
 * retransmission (transport.ts). Knows nothing of keyswitch's flow.
 */
export * as per from './per/index.js';
export * from './ras/index.js';
export * from './transport.js';
export type { BitString, Opaque, UnknownAlternative, UnknownExtension, Position, PerDecodeFailure } from './per/index.js';
export { PerEncodeError, decodePer, encodePer, zeroBits } from './per/index.js';
