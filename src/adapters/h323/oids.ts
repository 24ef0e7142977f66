/**
 * keyswitch's object identifiers and ProfileElement numbers in RAS, under
 * the documentation enterprise number 32473 (RFC 5612). docs/h323.md gives
 * the table of which message carries which.
 */
export const KS_OID = {
  /** tokenOID of the ClearToken that carries a KS1 step (s1, s2, s5..s10); also the keyExch capability in GRQ. */
  ks1: '1.3.6.1.4.1.32473.1.1',
  /** algorithmOID of the HASHED whose hash is the app-hmac tag over the message (after registration). */
  appHmac: '1.3.6.1.4.1.32473.1.2',
  /** tokenOID of the ClearToken on the SBC ↔ softswitch leg that carries an H.235.1 endpoint's message as received. */
  relay: '1.3.6.1.4.1.32473.1.3',
} as const;

/** id-aes256-GCM (NIST): the algorithm of E_Kc[Kc,sp] in h235Key. */
export const AES256_GCM_OID = '2.16.840.1.101.3.4.1.46';

/** profileInfo element ids of the KS1 and relay tokens. */
export const EL = {
  n1: 1, // N1 echoed (s6), N1' echoed (s10)
  n2: 2, // N2 (s6), N2 echoed (s7), N2' (s10)
  offer: 3, // the SBC's mechanism offer (s6, and a refusal for no common mechanism)
  authenticator: 4, // Authenticator_c (s7, s8)
  mechs: 5, // the terminal's mechanism list, as sent (s7) or echoed without white space (s10)
  mech: 6, // the chosen mechanism (s8, s10)
  mac: 7, // the s10 MAC
  eksp: 8, // E_Ksp[Kc,sp] (s9 only: never leaves the core)
  ipc: 9, // the terminal's address as the SBC saw it (s8, relay)
  original: 10, // relay: the endpoint's message, octets as received
  answer: 11, // relay: the answer to send to the endpoint, octets as the gatekeeper made them
} as const;
