/**
 * The SBC's TLS certificate: the configured files, or a self-signed one made
 * at first start and kept in the data dir. The key pair and the signature come
 * from node:crypto; node-forge only assembles the X.509 structure.
 */
import { generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type forge from 'node-forge';

export interface CertificateOptions {
  certFile?: string;
  keyFile?: string;
  /** Where a generated certificate is kept (`sbc-cert.pem`, `sbc-key.pem`). */
  dataDir: string;
  /** The generated files' names in dataDir (default `sbc-cert.pem`, `sbc-key.pem`); the licence server keeps its own. */
  fileNames?: { cert: string; key: string };
  /** Subject CN and first DNS name, e.g. IDsp. */
  commonName: string;
  /** Further names: DNS names or IP addresses. */
  altNames?: string[];
  validDays?: number;
}

export interface SbcCertificate {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
  created: boolean;
  /** SHA-256 fingerprint, for logs and for terminals to pin. */
  fingerprint256: string;
}

export function loadOrCreateCertificate(o: CertificateOptions): SbcCertificate {
  if (o.certFile || o.keyFile) {
    if (!o.certFile || !o.keyFile) throw new Error('tls.certFile and tls.keyFile go together');
    const cert = readFileSync(o.certFile, 'utf8');
    const key = readFileSync(o.keyFile, 'utf8');
    return { cert, key, certFile: o.certFile, keyFile: o.keyFile, created: false, fingerprint256: new X509Certificate(cert).fingerprint256 };
  }
  const certFile = join(o.dataDir, o.fileNames?.cert ?? 'sbc-cert.pem');
  const keyFile = join(o.dataDir, o.fileNames?.key ?? 'sbc-key.pem');
  if (existsSync(certFile) && existsSync(keyFile)) {
    const cert = readFileSync(certFile, 'utf8');
    return { cert, key: readFileSync(keyFile, 'utf8'), certFile, keyFile, created: false, fingerprint256: new X509Certificate(cert).fingerprint256 };
  }
  const made = makeSelfSigned(o.commonName, o.altNames ?? [], o.validDays ?? 825);
  mkdirSync(o.dataDir, { recursive: true });
  writeFileSync(keyFile, made.key, { mode: 0o600 });
  writeFileSync(certFile, made.cert, { mode: 0o644 });
  return { ...made, certFile, keyFile, created: true, fingerprint256: new X509Certificate(made.cert).fingerprint256 };
}

export const SERIAL_BYTES = 16;

/** node-forge, loaded when a certificate is made (first start), not at every start. */
export const loadForge = (): typeof forge => createRequire(import.meta.url)('node-forge') as typeof forge;

/**
 * A certificate serial from random bytes, as the hex node-forge takes: a
 * positive DER INTEGER whose first byte is never 0. node-forge drops one
 * leading zero byte and keeps the rest, so a first byte of 0 followed by
 * another 0 gave a non-minimal INTEGER that OpenSSL refuses ("illegal
 * padding"), about once in 65,536 certificates (RFC 5280 §4.1.2.2).
 */
export function certificateSerial(random: Buffer): string {
  const serial = Buffer.from(random);
  serial[0] = (serial[0]! & 0x3f) | 0x40;
  return serial.toString('hex');
}

/** A self-signed RSA-2048 / SHA-256 server certificate. */
export function makeSelfSigned(commonName: string, altNames: string[], validDays: number, serialBytes: Buffer = randomBytes(SERIAL_BYTES)): { cert: string; key: string } {
  const f = loadForge();
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pubPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const c = f.pki.createCertificate();
  c.publicKey = f.pki.publicKeyFromPem(pubPem);
  c.serialNumber = certificateSerial(serialBytes);
  const now = Date.now();
  c.validity.notBefore = new Date(now - 60_000);
  c.validity.notAfter = new Date(now + validDays * 86_400_000);
  const attrs = [{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'keyswitch' }];
  c.setSubject(attrs);
  c.setIssuer(attrs);
  const names = [commonName, ...altNames].filter((n, i, a) => a.indexOf(n) === i);
  c.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: names.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n })) },
  ]);
  const oid = f.pki.oids.sha256WithRSAEncryption!;
  c.signatureOid = oid;
  c.siginfo.algorithmOid = oid;
  // getTBSCertificate exists in node-forge but is missing from its type definitions
  const getTbs = (f.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate;
  const tbs = f.asn1.toDer(getTbs(c)).getBytes();
  c.signature = sign('sha256', Buffer.from(tbs, 'binary'), privateKey).toString('binary');
  return { cert: f.pki.certificateToPem(c), key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}
