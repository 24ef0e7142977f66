/** H.225.0 RAS types and messages in ALIGNED PER. Knows nothing of keyswitch's flow. */
export * from './addresses.js';
export * from './h235.js';
export * from './security.js';
export * from './endpoint.js';
export * from './reasons.js';
export * from './messages.js';
export * from './ras-message.js';
export * from './oids.js';
