/**
 * The `app-hmac` mechanism in SIP (docs/sip-mechanisms.md): one header
 *
 *   KS-HMAC: seq=<decimal>, mac="<b64url, 16 bytes>"
 *
 * whose tag covers the whole message as sent — start line, every header line
 * in wire order, the blank line and the body (Content-Length bytes) — with
 * only the KS-HMAC line itself (name through its CRLF) left out. The receiver
 * cuts that line out of the bytes it received and verifies; nothing has to be
 * re-serialised, so any change on the way (a Via, a Contact, the body) fails.
 */
import { appHmacTag, type AppHmacSigner, type AppHmacVerdict, type AppHmacVerifier } from '../../crypto/app-hmac.js';
import { fromB64u, toB64u } from '../../crypto/ks1.js';
import { parseAuth, serialize, type SipMessage } from '../../sip/index.js';

export const KS_HMAC = 'KS-HMAC';
const KEY = 'ks-hmac';
const SEQ = /^[1-9][0-9]{0,15}$/;
const CRLF2 = Buffer.from('\r\n\r\n');

/** Signs `msg` as it will be serialised and appends its KS-HMAC line (the last header line). */
export function signSipMessage(msg: SipMessage, signer: AppHmacSigner): void {
  msg.remove(KS_HMAC);
  const { seq, tag } = signer.protect(serialize(msg));
  msg.append(KS_HMAC, `seq=${seq}, mac="${toB64u(tag)}"`);
}

export type SipHmacVerdict = AppHmacVerdict | 'malformed';

/** The bytes the tag covers and the header's values, from a message as received. */
export function coveredBytes(msg: SipMessage): { bytes: Buffer; seq: number; tag: Buffer } | 'missing' | 'malformed' {
  const lines = msg.headers.filter((h) => h.key === KEY);
  if (lines.length === 0) return 'missing';
  const h = lines[0]!;
  const src = msg.source;
  const start = msg.startLineRange[0];
  if (lines.length > 1 || !src || start < 0 || h.start < 0) return 'malformed';
  let p: Record<string, string>;
  try {
    p = parseAuth(h.value, KS_HMAC, false).params;
  } catch {
    return 'malformed';
  }
  const tag = fromB64u(p.mac ?? '', 16);
  if (!tag || p.seq === undefined || !SEQ.test(p.seq)) return 'malformed';
  const seq = Number(p.seq);
  if (!Number.isSafeInteger(seq)) return 'malformed';
  const blank = src.indexOf(CRLF2, start);
  if (blank < 0 || h.end > blank + 2) return 'malformed';
  const end = blank + 4 + msg.body.length;
  if (end > src.length) return 'malformed';
  return { bytes: Buffer.concat([src.subarray(start, h.start), src.subarray(h.end, end)]), seq, tag };
}

/** Verifies a received message under `verifier` (moves its window only on success). */
export function verifySipMessage(msg: SipMessage, verifier: AppHmacVerifier): SipHmacVerdict {
  const c = coveredBytes(msg);
  if (c === 'missing') return 'missing';
  if (c === 'malformed') return 'malformed';
  return verifier.verify(c.seq, c.bytes, c.tag);
}

/** For tests and tools: the tag a given key would put on these bytes. */
export { appHmacTag };
