export * from './types.js';
export * from './codes.js';
export * from './endpoint-name.js';
export * from './ack.js';
export * from './parse.js';
export * from './encode.js';
export * from './transport.js';
