export * from './messages.js';
export * from './mechanisms.js';
export * from './replay.js';
export * from './terminal.js';
export * from './sbc.js';
export * from './softswitch.js';
export * from './sbc-state.js';
