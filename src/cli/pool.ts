/**
 * `keyswitch pool init --out DIR`: makes the key pair and certificate that
 * several SBC instances behind one address share (docs/header-signing.md).
 * Copy both files to every instance; the key stays mode 0600.
 */
import { X509Certificate } from 'node:crypto';
import { makePoolCertificate } from '../sbc/pool/certificate.js';
import { writePoolFiles } from '../sbc/pool/files.js';

export interface PoolInitOptions {
  out: string;
  commonName?: string;
  validDays?: number;
  force?: boolean;
  /** The summary as one JSON line. */
  json?: boolean;
  /** Where the summary and errors go (default: process stdout/stderr). */
  stdout?: (line: string) => void;
  stderr?: (line: string) => void;
}

/** Returns the process exit code: 0 done, 1 failed (message on stderr), 2 bad options. */
export function runPoolInit(o: PoolInitOptions): number {
  const out = o.stdout ?? ((l: string) => process.stdout.write(l + '\n'));
  const err = o.stderr ?? ((l: string) => process.stderr.write(l + '\n'));
  if (!o.out) {
    err('pool init: --out DIR is required');
    return 2;
  }
  const days = o.validDays ?? 3650;
  if (!Number.isInteger(days) || days < 1 || days > 36500) {
    err('pool init: --valid-days must be a whole number of days between 1 and 36500');
    return 2;
  }
  try {
    const m = makePoolCertificate({ commonName: o.commonName, validDays: days });
    const p = writePoolFiles(o.out, m, { force: o.force });
    const x = new X509Certificate(m.cert);
    if (o.json) {
      out(JSON.stringify({ certFile: p.certFile, keyFile: p.keyFile, subject: x.subject.replace(/\n/g, ', '), validTo: new Date(x.validTo).toISOString(), sha256: x.fingerprint256 }));
      return 0;
    }
    out(`pool certificate ${p.certFile}`);
    out(`pool key         ${p.keyFile} (mode 0600: copy it only to the pool's SBC instances)`);
    out(`subject          ${x.subject.replace(/\n/g, ', ')}`);
    out(`valid until      ${new Date(x.validTo).toISOString()}`);
    out(`sha256           ${x.fingerprint256}`);
    return 0;
  } catch (e) {
    err(`pool init: ${(e as Error).message}`);
    return 1;
  }
}
