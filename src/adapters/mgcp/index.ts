export * from './params.js';
export * from './app-hmac.js';
