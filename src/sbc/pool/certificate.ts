/**
 * The pool certificate: an EC P-256 key pair from node:crypto and a
 * self-signed X.509 certificate assembled with node-forge's ASN.1 tools.
 * node-forge's certificate API only knows RSA keys, so its TBS structure is
 * built with a placeholder RSA key and then given the real EC
 * SubjectPublicKeyInfo and the ecdsa-with-SHA256 algorithm; node:crypto signs.
 */
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import type forge from 'node-forge';
import { certificateSerial, loadForge, SERIAL_BYTES } from '../../crypto/certificate.js';

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

export interface PoolCertificateOptions {
  commonName?: string;
  validDays?: number;
  now?: number;
  /** The serial's random bytes (default: SERIAL_BYTES fresh ones). */
  serialBytes?: Buffer;
}

export interface PoolKeyMaterial {
  /** PEM certificate (public, shared with every instance). */
  cert: string;
  /** PEM PKCS#8 private key (secret, file mode 0600). */
  key: string;
}

function algorithmIdentifier(): forge.asn1.Asn1 {
  const a = loadForge().asn1;
  // RFC 5758 §3.2: the parameters field is absent for ECDSA.
  return a.create(a.Class.UNIVERSAL, a.Type.SEQUENCE, true, [a.create(a.Class.UNIVERSAL, a.Type.OID, false, a.oidToDer(ECDSA_WITH_SHA256).getBytes())]);
}

export function makePoolCertificate(o: PoolCertificateOptions = {}): PoolKeyMaterial {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spkiDer = publicKey.export({ type: 'spki', format: 'der' });
  const f = loadForge();
  const a = f.asn1;

  const c = f.pki.createCertificate();
  // Placeholder so forge can lay out the TBS; replaced below by the EC key.
  c.publicKey = f.pki.setRsaPublicKey(new f.jsbn.BigInteger('3', 10), new f.jsbn.BigInteger('65537', 10));
  c.serialNumber = certificateSerial(o.serialBytes ?? randomBytes(SERIAL_BYTES));
  const now = o.now ?? Date.now();
  c.validity.notBefore = new Date(now - 60_000);
  c.validity.notAfter = new Date(now + (o.validDays ?? 3650) * 86_400_000);
  const attrs = [
    { name: 'commonName', value: o.commonName ?? 'keyswitch SBC pool' },
    { name: 'organizationName', value: 'keyswitch' },
  ];
  c.setSubject(attrs);
  c.setIssuer(attrs);
  const ski = createHash('sha1').update(spkiDer).digest();
  c.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyAgreement: true, critical: true },
    { name: 'subjectKeyIdentifier', subjectKeyIdentifier: ski.toString('hex') },
  ]);
  c.siginfo.algorithmOid = ECDSA_WITH_SHA256;
  // getTBSCertificate exists in node-forge but is missing from its type definitions
  const tbs = (f.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate(c);
  const fields = tbs.value as forge.asn1.Asn1[];
  // TBSCertificate: [0] version, serial, signature, issuer, validity, subject, subjectPublicKeyInfo, [3] extensions
  fields[2] = algorithmIdentifier();
  fields[6] = a.fromDer(f.util.createBuffer(spkiDer.toString('binary')));
  const tbsDer = Buffer.from(a.toDer(tbs).getBytes(), 'binary');
  const sig = sign('sha256', tbsDer, privateKey); // DER ECDSA-Sig-Value
  const certAsn1 = a.create(a.Class.UNIVERSAL, a.Type.SEQUENCE, true, [
    tbs,
    algorithmIdentifier(),
    a.create(a.Class.UNIVERSAL, a.Type.BITSTRING, false, String.fromCharCode(0) + sig.toString('binary')),
  ]);
  const der = Buffer.from(a.toDer(certAsn1).getBytes(), 'binary');
  const cert = '-----BEGIN CERTIFICATE-----\n' + (der.toString('base64').match(/.{1,64}/g) ?? []).join('\n') + '\n-----END CERTIFICATE-----\n';
  return { cert, key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}
