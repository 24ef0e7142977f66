/**
 * Diameter over TLS-PSK (RFC 6733 §13 "TLS from the first byte" on its own
 * port, with the RFC 4279 PSK cipher suites of TLS 1.2). The PSK identity is
 * the peer's Origin-Host; each peer's key is derived from one provisioned
 * secret and that name, so the AuC keeps one secret while a softswitch can
 * be given only its own key (docs/diameter.md).
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { ConnectionOptions, TlsOptions } from 'node:tls';

/** IANA "diameters": Diameter over TLS/TCP. */
export const DIAMETER_TLS_PORT = 5658;

/** PSK suites with forward-secure AEADs only; no certificates on this link. */
export const DIAMETER_PSK_CIPHERS = 'PSK-AES256-GCM-SHA384:PSK-AES128-GCM-SHA256:PSK-CHACHA20-POLY1305';

/** DiameterIdentity is an FQDN: compared without case. */
export function sameIdentity(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** The key of one peer: HMAC-SHA256(secret, "keyswitch diameter psk" 0x00 lower(Origin-Host)). */
export function peerPsk(secret: Buffer, originHost: string): Buffer {
  return createHmac('sha256', secret).update('keyswitch diameter psk\0').update(originHost.toLowerCase(), 'utf8').digest();
}

/**
 * Server options: `keyFor` gives the key of an identity it knows, undefined
 * otherwise. An unknown identity is answered with a random key rather than
 * a refusal, so an unknown name and a wrong key fail the handshake alike
 * (no oracle for which Origin-Hosts are peers).
 */
export function pskServerOptions(keyFor: (identity: string) => Buffer | undefined, handshakeMs: number): TlsOptions & { identities: WeakMap<object, string> } {
  const decoy = randomBytes(32);
  const identities = new WeakMap<object, string>();
  return {
    identities,
    ciphers: DIAMETER_PSK_CIPHERS,
    minVersion: 'TLSv1.2',
    // Node offers PSK only up to TLS 1.2.
    maxVersion: 'TLSv1.2',
    handshakeTimeout: handshakeMs,
    pskCallback: (socket, identity) => {
      const key = keyFor(identity);
      if (!key) return decoy;
      identities.set(socket, identity);
      return key;
    },
  };
}

export function pskClientOptions(identity: string, key: Buffer): ConnectionOptions {
  return {
    ciphers: DIAMETER_PSK_CIPHERS,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    pskCallback: () => ({ identity, psk: key }),
    // Knowing the key is what authenticates the AuC here: there is no certificate to check.
    checkServerIdentity: () => undefined,
  };
}
