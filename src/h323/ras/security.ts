/** H.225.0's security types: CryptoH323Token, integrity mechanisms, ICV, security errors. */
import {
  NULL,
  OBJECT_IDENTIFIER,
  alt,
  bitString,
  choice,
  field,
  sequence,
  type BitString,
  type UnknownAlternative,
} from '../per/index.js';
import { AliasAddress, GatekeeperIdentifier, NonStandardParameter } from './addresses.js';
import { CryptoToken, Encrypted, Hashed, Signed, TimeStamp } from './h235.js';

export interface CryptoEPPwdHash {
  alias: AliasAddress;
  timeStamp: TimeStamp;
  token: Hashed;
}
export interface CryptoGKPwdHash {
  gatekeeperId: string;
  timeStamp: TimeStamp;
  token: Hashed;
}

export type CryptoH323Token =
  | { type: 'cryptoEPPwdHash'; value: CryptoEPPwdHash }
  | { type: 'cryptoGKPwdHash'; value: CryptoGKPwdHash }
  | { type: 'cryptoEPPwdEncr'; value: Encrypted }
  | { type: 'cryptoGKPwdEncr'; value: Encrypted }
  | { type: 'cryptoEPCert'; value: Signed }
  | { type: 'cryptoGKCert'; value: Signed }
  | { type: 'cryptoFastStart'; value: Signed }
  | { type: 'nestedcryptoToken'; value: CryptoToken }
  | UnknownAlternative;
export const CryptoH323Token = choice<CryptoH323Token>(
  'CryptoH323Token',
  [
    alt(
      'cryptoEPPwdHash',
      sequence<CryptoEPPwdHash>('cryptoEPPwdHash', [field('alias', AliasAddress), field('timeStamp', TimeStamp), field('token', Hashed)]),
    ),
    alt(
      'cryptoGKPwdHash',
      sequence<CryptoGKPwdHash>('cryptoGKPwdHash', [field('gatekeeperId', GatekeeperIdentifier), field('timeStamp', TimeStamp), field('token', Hashed)]),
    ),
    alt('cryptoEPPwdEncr', Encrypted),
    alt('cryptoGKPwdEncr', Encrypted),
    alt('cryptoEPCert', Signed),
    alt('cryptoGKCert', Signed),
    alt('cryptoFastStart', Signed),
    alt('nestedcryptoToken', CryptoToken),
  ],
  [],
);

/** An integrity check value over a RAS message. */
export interface ICV {
  algorithmOID: string;
  icv: BitString;
}
export const ICV = sequence<ICV>('ICV', [field('algorithmOID', OBJECT_IDENTIFIER), field('icv', bitString())]);

export type EncryptIntAlg = { type: 'nonStandard'; value: NonStandardParameter } | { type: 'isoAlgorithm'; value: string } | UnknownAlternative;
export const EncryptIntAlg = choice<EncryptIntAlg>('EncryptIntAlg', [alt('nonStandard', NonStandardParameter), alt('isoAlgorithm', OBJECT_IDENTIFIER)], []);

export type NonIsoIntegrityMechanism =
  | { type: 'hMAC-MD5'; value: null }
  | { type: 'hMAC-iso10118-2-s' | 'hMAC-iso10118-2-l'; value: EncryptIntAlg }
  | { type: 'hMAC-iso10118-3'; value: string }
  | UnknownAlternative;
export const NonIsoIntegrityMechanism = choice<NonIsoIntegrityMechanism>(
  'NonIsoIntegrityMechanism',
  [alt('hMAC-MD5', NULL), alt('hMAC-iso10118-2-s', EncryptIntAlg), alt('hMAC-iso10118-2-l', EncryptIntAlg), alt('hMAC-iso10118-3', OBJECT_IDENTIFIER)],
  [],
);

export type IntegrityMechanism =
  | { type: 'nonStandard'; value: NonStandardParameter }
  | { type: 'digSig'; value: null }
  | { type: 'iso9797'; value: string }
  | { type: 'nonIsoIM'; value: NonIsoIntegrityMechanism }
  | UnknownAlternative;
export const IntegrityMechanism = choice<IntegrityMechanism>(
  'IntegrityMechanism',
  [alt('nonStandard', NonStandardParameter), alt('digSig', NULL), alt('iso9797', OBJECT_IDENTIFIER), alt('nonIsoIM', NonIsoIntegrityMechanism)],
  [],
);

/** SecurityErrors2: the six errors the later reject reasons use. */
const SECURITY_ERRORS_2 = [
  'securityWrongSyncTime',
  'securityReplay',
  'securityWrongGeneralID',
  'securityWrongSendersID',
  'securityIntegrityFailed',
  'securityWrongOID',
] as const;

const SECURITY_ERRORS = [
  ...SECURITY_ERRORS_2,
  'securityDHmismatch',
  'securityCertificateExpired',
  'securityCertificateDateInvalid',
  'securityCertificateRevoked',
  'securityCertificateNotReadable',
  'securityCertificateSignatureInvalid',
  'securityCertificateMissing',
  'securityCertificateIncomplete',
  'securityUnsupportedCertificateAlgOID',
  'securityUnknownCA',
] as const;

export type SecurityErrors = { type: (typeof SECURITY_ERRORS)[number]; value: null } | UnknownAlternative;
export const SecurityErrors = choice<SecurityErrors>(
  'SecurityErrors',
  SECURITY_ERRORS.map((n) => alt(n, NULL)),
  [],
);

export type SecurityErrors2 = { type: (typeof SECURITY_ERRORS_2)[number]; value: null } | UnknownAlternative;
export const SecurityErrors2 = choice<SecurityErrors2>(
  'SecurityErrors2',
  SECURITY_ERRORS_2.map((n) => alt(n, NULL)),
  [],
);
