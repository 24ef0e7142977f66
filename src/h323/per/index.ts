/** Generic ALIGNED PER (ITU-T X.691) building blocks; nothing here knows H.323. */
export * from './errors.js';
export * from './bits.js';
export * from './codec.js';
export * from './integers.js';
export * from './length.js';
export * from './leaf.js';
export * from './constructed.js';
