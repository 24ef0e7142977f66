/**
 * Request/Response Authenticators (RFC 2865 §3, RFC 2866 §3) and
 * Message-Authenticator (RFC 2869 §5.14, RFC 3579 §3.2). Replaces the
 * `radius` package's checks, which compare digests as UTF-8 strings (two
 * different invalid byte sequences compare equal), verify a
 * Message-Authenticator only when one happens to be present, and place it last.
 */
import { timingSafeEqual } from 'node:crypto';
import type { PacketView } from './packet.js';
import { md5Of } from '../crypto/one-shot.js';
import { HMAC_BLOCK, PreparedHmac } from '../crypto/prepared-hmac.js';

const ZERO16 = Buffer.alloc(16);
/**
 * Each shared secret's HMAC-MD5 pads, made once (src/crypto/prepared-hmac.ts): an Hmac object per packet (each
 * check and signature) set its key up again and cost more than the hashing.
 */
const hmacBySecret = new WeakMap<Buffer, PreparedHmac>();

function hmacOf(secret: Buffer): PreparedHmac {
  let h = hmacBySecret.get(secret);
  if (!h) {
    h = new PreparedHmac('md5', secret);
    hmacBySecret.set(secret, h);
  }
  return h;
}

/**
 * HMAC-MD5 of `ipad || data` as made by the caller (the data after the pad's block). The pad in it is zeroed
 * after: such a buffer may be a slice of Node's shared pool, handed out again later.
 */
function finishHmac(h: PreparedHmac, withIpad: Buffer): Buffer {
  const mac = h.finish(withIpad);
  withIpad.fill(0, 0, HMAC_BLOCK);
  return mac;
}

/** HMAC-MD5 (RFC 2104) of `data` under `secret`; exported for its test against createHmac. */
export function hmacMd5(secret: Buffer, data: Buffer): Buffer {
  const h = hmacOf(secret);
  return finishHmac(h, Buffer.concat([h.ipad, data], HMAC_BLOCK + data.length));
}

function md5(data: Buffer, secret: Buffer): Buffer {
  return md5Of(Buffer.concat([data, secret]));
}

/** MD5 of the packet with `authField` in its authenticator field, then the secret: one copy, no edit of the packet. */
function md5With(bytes: Buffer, authField: Buffer, secret: Buffer): Buffer {
  return md5Of(Buffer.concat([bytes.subarray(0, 4), authField, bytes.subarray(20), secret]));
}

/**
 * Signs in place. `maOffset` is where the 16 zero bytes of the
 * Message-Authenticator value sit (-1: none). For an Access-Request the
 * Request Authenticator (random) must already be in the packet.
 */
export function signAccessRequest(packet: Buffer, secret: Buffer, maOffset: number): void {
  if (maOffset >= 0) hmacMd5(secret, packet).copy(packet, maOffset);
}

/** Accounting-Request: Message-Authenticator over a zero authenticator, then the MD5 Request Authenticator over it all. */
export function signAccountingRequest(packet: Buffer, secret: Buffer, maOffset: number): void {
  ZERO16.copy(packet, 4);
  if (maOffset >= 0) hmacMd5(secret, packet).copy(packet, maOffset);
  md5(packet, secret).copy(packet, 4);
}

const ACCOUNTING_RESPONSE = 5;

/**
 * What sits in the authenticator field while a response's Message-Authenticator
 * is computed: the request's authenticator (RFC 3579 §3.2), except in an
 * Accounting-Response, which no RFC covers and where FreeRADIUS (radclient 3.2,
 * checked by test/radius/radclient.test.ts) uses zeros.
 */
function responseMaField(code: number, requestAuthenticator: Buffer): Buffer {
  return code === ACCOUNTING_RESPONSE ? ZERO16 : requestAuthenticator;
}

/** Any response: Message-Authenticator first, then the Response Authenticator over it all. */
export function signResponse(packet: Buffer, secret: Buffer, requestAuthenticator: Buffer, maOffset: number): void {
  if (maOffset >= 0) {
    responseMaField(packet[0], requestAuthenticator).copy(packet, 4);
    hmacMd5(secret, packet).copy(packet, maOffset);
  }
  requestAuthenticator.copy(packet, 4);
  md5(packet, secret).copy(packet, 4);
}

function equal16(a: Buffer, b: Buffer): boolean {
  return a.length === 16 && b.length === 16 && timingSafeEqual(a, b);
}

/** HMAC-MD5 over the packet with the Message-Authenticator zeroed and `authField` in the authenticator field. */
function messageAuthenticatorOk(p: PacketView, secret: Buffer, authField: Buffer): boolean {
  const h = hmacOf(secret);
  // one copy, after the inner pad: the packet as it was signed
  const buf = Buffer.allocUnsafe(HMAC_BLOCK + p.bytes.length);
  h.ipad.copy(buf, 0);
  p.bytes.copy(buf, HMAC_BLOCK);
  authField.copy(buf, HMAC_BLOCK + 4);
  ZERO16.copy(buf, HMAC_BLOCK + p.messageAuthenticatorOffset);
  const got = p.bytes.subarray(p.messageAuthenticatorOffset, p.messageAuthenticatorOffset + 16);
  return equal16(finishHmac(h, buf), got);
}

export type Verdict = 'ok' | 'missing-message-authenticator' | 'bad-message-authenticator' | 'bad-authenticator';

/** Access-Request and Status-Server: the Message-Authenticator is required (Blast-RADIUS, CVE-2024-3596). */
export function verifyAccessRequest(p: PacketView, secret: Buffer): Verdict {
  if (p.messageAuthenticatorOffset < 0) return 'missing-message-authenticator';
  return messageAuthenticatorOk(p, secret, p.authenticator) ? 'ok' : 'bad-message-authenticator';
}

/** Accounting-Request: Request Authenticator always; Message-Authenticator when present. */
export function verifyAccountingRequest(p: PacketView, secret: Buffer): Verdict {
  if (!equal16(md5With(p.bytes, ZERO16, secret), p.authenticator)) return 'bad-authenticator';
  if (p.messageAuthenticatorOffset >= 0 && !messageAuthenticatorOk(p, secret, ZERO16)) return 'bad-message-authenticator';
  return 'ok';
}

/** A response to our request: Response Authenticator, and a Message-Authenticator unless `requireMa` is false. */
export function verifyResponse(p: PacketView, secret: Buffer, requestAuthenticator: Buffer, requireMa = true): Verdict {
  if (!equal16(md5With(p.bytes, requestAuthenticator, secret), p.authenticator)) return 'bad-authenticator';
  if (p.messageAuthenticatorOffset < 0) return requireMa ? 'missing-message-authenticator' : 'ok';
  return messageAuthenticatorOk(p, secret, responseMaField(p.code, requestAuthenticator)) ? 'ok' : 'bad-message-authenticator';
}
