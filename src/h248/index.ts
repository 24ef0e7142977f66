export * from './types.js';
export * from './tokens.js';
export * from './parse.js';
export * from './serialize.js';
export * from './descriptors.js';
export * from './errors.js';
export * from './auth-header.js';
export * from './transport.js';
