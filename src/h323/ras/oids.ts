/** Standard object identifiers RAS security uses (H.235.0, H.235.1). */
export const OID = {
  /** H.235.1 "A": the hash covers all fields of the RAS/call signalling message (version 2). */
  h2351AllFields: '0.0.8.235.0.2.1',
  /** H.235.1 "T": ClearToken carrying time stamp, random, generalID, sendersID. */
  h2351ClearToken: '0.0.8.235.0.2.5',
  /** H.235.1 "U": HMAC-SHA1-96. */
  hmacSha1_96: '0.0.8.235.0.2.6',
  /** MD5 (cryptoEPPwdHash of H.235 version 1 gatekeepers). */
  md5: '1.2.840.113549.2.5',
  sha1: '1.3.14.3.2.26',
} as const;
