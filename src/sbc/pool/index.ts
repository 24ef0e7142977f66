/** SBC pool: shared key pair, certificate, and signing-key blobs (docs/header-signing.md). */
export { SigningPool, BLOB_BYTES, BLOB_CHARS, type PoolOptions, type OpenedBlob, type BlobFailure } from './pool.js';
export { makePoolCertificate, type PoolCertificateOptions, type PoolKeyMaterial } from './certificate.js';
export { loadPool, writePoolFiles, poolPaths, POOL_CERT_FILE, POOL_KEY_FILE } from './files.js';
