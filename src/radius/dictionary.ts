/**
 * The RADIUS dictionary: the `radius` package's RFC dictionaries plus
 * dictionaries/dictionary.keyswitch (FreeRADIUS format, vendor 32473).
 * The numbers below are what the codec and the AuC mapping use; a test
 * checks them against the dictionary file so the two cannot drift.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import radius from 'radius';

export const KEYSWITCH_VENDOR_ID = 32473;

export const RadiusCode = {
  AccessRequest: 1,
  AccessAccept: 2,
  AccessReject: 3,
  AccountingRequest: 4,
  AccountingResponse: 5,
  AccessChallenge: 11,
  StatusServer: 12,
} as const;

/** Standard attribute numbers (RFC 2865, 2866, 2869). */
export const Attr = {
  UserName: 1,
  ReplyMessage: 18,
  VendorSpecific: 26,
  CallingStationId: 31,
  NasIdentifier: 32,
  ProxyState: 33,
  AcctStatusType: 40,
  AcctSessionId: 44,
  EventTimestamp: 55,
  MessageAuthenticator: 80,
} as const;

export const AcctStatus = { Start: 1, Stop: 2, Failed: 15 } as const;

/** Vendor 32473 sub-attribute numbers, as in dictionary.keyswitch. */
export const KsAttr = {
  Rand: 1,
  AuthenticatorC: 2,
  EKc: 3,
  EKsp: 4,
  RandExpires: 5,
  RejectReason: 6,
  RetryAfter: 7,
  DigestUsername: 8,
  DigestRealm: 9,
  DigestAlgorithm: 10,
  DigestHa1: 11,
  TerminalAddress: 12,
  Protocol: 13,
  Contact: 14,
  Mechanism: 15,
  RegistrationExpires: 16,
  Locked: 17,
  FailuresPending: 18,
} as const;

/** Sub-attributes hidden per RFC 2868 (`encrypt=2` in the dictionary). */
export const HIDDEN_KS_ATTRS: ReadonlySet<number> = new Set([KsAttr.AuthenticatorC, KsAttr.DigestHa1]);

function findDictionaryDir(): string {
  // src/radius/ under tsx and vitest, dist/src/radius/ once compiled.
  for (const rel of ['../../dictionaries/', '../../../dictionaries/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(dir + 'dictionary.keyswitch')) return dir;
  }
  throw new Error('dictionaries/dictionary.keyswitch not found');
}

/** Folder holding dictionary.keyswitch (for radclient/tshark dictionary dirs). */
export const DICTIONARY_DIR = findDictionaryDir();
export const KEYSWITCH_DICTIONARY = DICTIONARY_DIR + 'dictionary.keyswitch';

let loaded = false;

/** Registers our dictionary with the `radius` package (process-wide, once). */
export function loadDictionary(): void {
  if (loaded) return;
  radius.add_dictionary(KEYSWITCH_DICTIONARY);
  // The package loads lazily and only once: drop anything loaded before ours was added.
  radius.unload_dictionaries();
  loaded = true;
}
