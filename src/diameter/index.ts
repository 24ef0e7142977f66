/** The Diameter stack: codec, dictionary, peers, server and failover client. */
export * from './constants.js';
export * from './dictionary.js';
export * from './avp.js';
export * from './codec.js';
export * from './errors.js';
export * from './framer.js';
export * from './answers.js';
export * from './identity.js';
export * from './peer.js';
export * from './server.js';
export * from './client.js';
