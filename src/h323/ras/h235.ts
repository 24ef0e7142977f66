/**
 * H235-SECURITY-MESSAGES (H.235.0): tokens and the parameterised SIGNED,
 * ENCRYPTED and HASHED types as H.225.0 RAS carries them.
 */
import {
  BOOLEAN,
  INTEGER,
  NULL,
  OBJECT_IDENTIFIER,
  OPAQUE,
  OPEN_TYPE,
  alt,
  bitString,
  bmpString,
  choice,
  field,
  integer,
  octetString,
  optional,
  sequence,
  sequenceOf,
  type BitString,
  type Codec,
  type Opaque,
  type UnknownAlternative,
  type UnknownExtension,
} from '../per/index.js';

/** Seconds since 1970-01-01 00:00 UTC, 1..2^32-1. */
export type TimeStamp = number;
export const TimeStamp: Codec<TimeStamp> = integer(1, 4294967295);

/**
 * RandomVal ::= INTEGER, "a 32-bit integer", unconstrained on the wire and
 * therefore signed: an endpoint that puts 0x80000000..0xFFFFFFFF in four
 * octets sends a negative number. Kept as a bigint as it came.
 */
export type RandomVal = bigint;
export const RandomVal: Codec<RandomVal> = INTEGER;

export const ChallengeString = octetString(8, 128);
export const Password = bmpString(1, 128);
export const Identifier = bmpString(1, 128);
export const KeyMaterial = bitString(1, 2048);

export interface H235NonStandardParameter {
  nonStandardIdentifier: string;
  data: Buffer;
}
export const H235NonStandardParameter = sequence<H235NonStandardParameter>('NonStandardParameter', [
  field('nonStandardIdentifier', OBJECT_IDENTIFIER),
  field('data', octetString()),
]);

export interface DHset {
  halfkey: BitString;
  modSize: BitString;
  generator: BitString;
  unknownExtensions?: UnknownExtension[];
}
export const DHset = sequence<DHset>(
  'DHset',
  [field('halfkey', bitString(0, 2048)), field('modSize', bitString(0, 2048)), field('generator', bitString(0, 2048))],
  [],
);

export interface TypedCertificate {
  type: string;
  certificate: Buffer;
  unknownExtensions?: UnknownExtension[];
}
export const TypedCertificate = sequence<TypedCertificate>('TypedCertificate', [field('type', OBJECT_IDENTIFIER), field('certificate', octetString())], []);

export type AuthenticationBES = { type: 'default'; value: null } | { type: 'radius'; value: null } | UnknownAlternative;
export const AuthenticationBES = choice<AuthenticationBES>('AuthenticationBES', [alt('default', NULL), alt('radius', NULL)], []);

export type AuthenticationMechanism =
  | { type: 'dhExch' | 'pwdSymEnc' | 'pwdHash' | 'certSign' | 'ipsec' | 'tls'; value: null }
  | { type: 'nonStandard'; value: H235NonStandardParameter }
  | { type: 'authenticationBES'; value: AuthenticationBES }
  /** A key exchange profile, named by its OBJECT IDENTIFIER. */
  | { type: 'keyExch'; value: string }
  | UnknownAlternative;
export const AuthenticationMechanism = choice<AuthenticationMechanism>(
  'AuthenticationMechanism',
  [
    alt('dhExch', NULL),
    alt('pwdSymEnc', NULL),
    alt('pwdHash', NULL),
    alt('certSign', NULL),
    alt('ipsec', NULL),
    alt('tls', NULL),
    alt('nonStandard', H235NonStandardParameter),
  ],
  [alt('authenticationBES', AuthenticationBES), alt('keyExch', OBJECT_IDENTIFIER)],
);

export interface Params {
  ranInt?: bigint;
  iv8?: Buffer;
  iv16?: Buffer;
  iv?: Buffer;
  clearSalt?: Buffer;
  unknownExtensions?: UnknownExtension[];
}
export const Params = sequence<Params>(
  'Params',
  [optional('ranInt', INTEGER), optional('iv8', octetString(8, 8))],
  [optional('iv16', octetString(16, 16)), optional('iv', octetString()), optional('clearSalt', octetString())],
);

export type Element =
  | { type: 'octets'; value: Buffer }
  | { type: 'integer'; value: bigint }
  | { type: 'bits'; value: BitString }
  | { type: 'name'; value: string }
  | { type: 'flag'; value: boolean }
  | UnknownAlternative;
export const Element = choice<Element>(
  'Element',
  [alt('octets', octetString()), alt('integer', INTEGER), alt('bits', bitString()), alt('name', bmpString()), alt('flag', BOOLEAN)],
  [],
);

/** A profile-specific element of a ClearToken (profileInfo). */
export interface ProfileElement {
  elementID: number;
  paramS?: Params;
  element?: Element;
  unknownExtensions?: UnknownExtension[];
}
export const ProfileElement = sequence<ProfileElement>(
  'ProfileElement',
  [field('elementID', integer(0, 255)), optional('paramS', Params), optional('element', Element)],
  [],
);

/** SIGNED{ToBeSigned}: `toBeSigned` is an open type, kept as the encoding that was signed. */
export interface Signed {
  toBeSigned: Buffer;
  algorithmOID: string;
  paramS: Params;
  signature: BitString;
}
export const Signed = sequence<Signed>('SIGNED', [
  field('toBeSigned', OPEN_TYPE),
  field('algorithmOID', OBJECT_IDENTIFIER),
  field('paramS', Params),
  field('signature', bitString()),
]);

/** ENCRYPTED{ToBeEncrypted}. */
export interface Encrypted {
  algorithmOID: string;
  paramS: Params;
  encryptedData: Buffer;
}
export const Encrypted = sequence<Encrypted>('ENCRYPTED', [
  field('algorithmOID', OBJECT_IDENTIFIER),
  field('paramS', Params),
  field('encryptedData', octetString()),
]);

/** HASHED{ToBeHashed}: the hash (e.g. HMAC-SHA1-96, 96 bits) over the encoding of what is hashed. */
export interface Hashed {
  algorithmOID: string;
  paramS: Params;
  hash: BitString;
}
export const Hashed = sequence<Hashed>('HASHED', [
  field('algorithmOID', OBJECT_IDENTIFIER),
  field('paramS', Params),
  field('hash', bitString()),
]);

export interface V3KeySyncMaterial {
  generalID?: string;
  algorithmOID?: string;
  paramS: Params;
  encryptedSessionKey?: Buffer;
  encryptedSaltingKey?: Buffer;
  clearSaltingKey?: Buffer;
  paramSsalt?: Params;
  keyDerivationOID?: string;
  genericKeyMaterial?: Buffer;
  unknownExtensions?: UnknownExtension[];
}
export const V3KeySyncMaterial = sequence<V3KeySyncMaterial>(
  'V3KeySyncMaterial',
  [
    optional('generalID', Identifier),
    optional('algorithmOID', OBJECT_IDENTIFIER),
    field('paramS', Params),
    optional('encryptedSessionKey', octetString()),
    optional('encryptedSaltingKey', octetString()),
    optional('clearSaltingKey', octetString()),
    optional('paramSsalt', Params),
    optional('keyDerivationOID', OBJECT_IDENTIFIER),
  ],
  [optional('genericKeyMaterial', octetString())],
);

export type H235Key =
  | { type: 'secureChannel'; value: BitString }
  | { type: 'sharedSecret'; value: Encrypted }
  | { type: 'certProtectedKey'; value: Signed }
  | { type: 'secureSharedSecret'; value: V3KeySyncMaterial }
  | UnknownAlternative;
export const H235Key = choice<H235Key>(
  'H235Key',
  [alt('secureChannel', KeyMaterial), alt('sharedSecret', Encrypted), alt('certProtectedKey', Signed)],
  [alt('secureSharedSecret', V3KeySyncMaterial)],
);

/** A token that may carry several kinds of value; `tokenOID` says which profile it follows. */
export interface ClearToken {
  tokenOID: string;
  timeStamp?: TimeStamp;
  password?: string;
  dhkey?: DHset;
  challenge?: Buffer;
  random?: RandomVal;
  certificate?: TypedCertificate;
  generalID?: string;
  nonStandard?: H235NonStandardParameter;
  /** ECKASDH, not modelled: its encoding as is. */
  eckasdhkey?: Opaque;
  sendersID?: string;
  h235Key?: H235Key;
  profileInfo?: ProfileElement[];
  unknownExtensions?: UnknownExtension[];
}
export const ClearToken = sequence<ClearToken>(
  'ClearToken',
  [
    field('tokenOID', OBJECT_IDENTIFIER),
    optional('timeStamp', TimeStamp),
    optional('password', Password),
    optional('dhkey', DHset),
    optional('challenge', ChallengeString),
    optional('random', RandomVal),
    optional('certificate', TypedCertificate),
    optional('generalID', Identifier),
    optional('nonStandard', H235NonStandardParameter),
  ],
  [optional('eckasdhkey', OPAQUE), optional('sendersID', Identifier), optional('h235Key', H235Key), optional('profileInfo', sequenceOf(ProfileElement))],
);

export type CryptoToken =
  | { type: 'cryptoEncryptedToken'; value: { tokenOID: string; token: Encrypted } }
  | { type: 'cryptoSignedToken'; value: { tokenOID: string; token: Signed } }
  | { type: 'cryptoHashedToken'; value: CryptoHashedToken }
  | { type: 'cryptoPwdEncr'; value: Encrypted }
  | UnknownAlternative;

/** H.235.1's token: the ClearToken whose fields were hashed, and the hash over the message. */
export interface CryptoHashedToken {
  tokenOID: string;
  hashedVals: ClearToken;
  token: Hashed;
}
export const CryptoHashedToken = sequence<CryptoHashedToken>('cryptoHashedToken', [
  field('tokenOID', OBJECT_IDENTIFIER),
  field('hashedVals', ClearToken),
  field('token', Hashed),
]);

export const CryptoToken = choice<CryptoToken>(
  'CryptoToken',
  [
    alt('cryptoEncryptedToken', sequence<{ tokenOID: string; token: Encrypted }>('cryptoEncryptedToken', [field('tokenOID', OBJECT_IDENTIFIER), field('token', Encrypted)])),
    alt('cryptoSignedToken', sequence<{ tokenOID: string; token: Signed }>('cryptoSignedToken', [field('tokenOID', OBJECT_IDENTIFIER), field('token', Signed)])),
    alt('cryptoHashedToken', CryptoHashedToken),
    alt('cryptoPwdEncr', Encrypted),
  ],
  [],
);
