import { createHash } from 'node:crypto';
import type { AppHmacSigner, AppHmacVerdict, AppHmacVerifier } from '../crypto/app-hmac.js';
import { writeAuthHeader } from './serialize.js';
import type { AuthHeader, ParsedMessage } from './types.js';

/**
 * Annex B authentication header under keyswitch's `app-hmac` mechanism.
 *
 *   AU=0x<SPI>:0x<SequenceNum>:0x<AuthData>  LF  message
 *
 * SPI       = first 4 bytes of SHA-256(Kc,sp) (the sessionKeyId, as 8 hex digits)
 * SeqNum    = the app-hmac sequence number of this datagram (1, 2, … per direction)
 * AuthData  = app-hmac tag (16 bytes) over  SPI(4, big-endian) || message,
 *             where `message` is every byte from the `MEGACO`/`!` token to the
 *             end of the datagram, exactly as sent; the sequence number and
 *             the direction are inside the app-hmac tag itself.
 *
 * Every datagram, retransmissions included, gets its own sequence number.
 */

/** sessionKeyId: the first 8 hex digits of SHA-256(Kc,sp); safe to log. */
export function sessionKeyId(kcsp: Buffer): string {
  return createHash('sha256').update(kcsp).digest('hex').slice(0, 8);
}

/** The SPI of the Annex B header: the session key's id (sessionKeyId) read as a number. */
export const spiOfKeyId = (keyId: string): number => parseInt(keyId, 16);

export const spiOf = (kcsp: Buffer): number => spiOfKeyId(sessionKeyId(kcsp));

function covered(spi: number, message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + message.length);
  out.writeUInt32BE(spi >>> 0, 0);
  out.set(message, 4);
  return out;
}

/** Signs `message` (the serialised text without header) and returns the whole datagram. */
export function protect(signer: AppHmacSigner, spi: number, message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  const { seq, tag } = signer.protect(covered(spi, body));
  if (seq > 0xffffffff) throw new RangeError('app-hmac sequence space exhausted: register again');
  const head: AuthHeader = { spi, seq, data: tag };
  return Buffer.concat([Buffer.from(writeAuthHeader(head) + '\n', 'latin1'), body]);
}

export type AuthVerdict = AppHmacVerdict | 'wrong-spi';

/** Checks the header of a parsed datagram against one session. */
export function verifyProtected(verifier: AppHmacVerifier, spi: number, msg: ParsedMessage, datagram: Uint8Array): AuthVerdict {
  if (!msg.auth) return 'missing';
  if (msg.auth.spi !== spi) return 'wrong-spi';
  return verifier.verify(msg.auth.seq, covered(spi, datagram.subarray(msg.bodyOffset)), msg.auth.data);
}
