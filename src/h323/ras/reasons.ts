/** Why a gatekeeper rejects or unregisters, and why an endpoint refuses to unregister. */
import { NULL, OPAQUE, alt, choice, sequenceOf, type Opaque, type UnknownAlternative } from '../per/index.js';
import { AliasAddress } from './addresses.js';
import { SecurityErrors, SecurityErrors2 } from './security.js';

type Nulls<N extends string> = { type: N; value: null };

export type GatekeeperRejectReason =
  | Nulls<'resourceUnavailable' | 'terminalExcluded' | 'invalidRevision' | 'undefinedReason' | 'securityDenial' | 'genericDataReason' | 'neededFeatureNotSupported'>
  | { type: 'securityError'; value: SecurityErrors }
  | UnknownAlternative;
export const GatekeeperRejectReason = choice<GatekeeperRejectReason>(
  'GatekeeperRejectReason',
  [alt('resourceUnavailable', NULL), alt('terminalExcluded', NULL), alt('invalidRevision', NULL), alt('undefinedReason', NULL)],
  [alt('securityDenial', NULL), alt('genericDataReason', NULL), alt('neededFeatureNotSupported', NULL), alt('securityError', SecurityErrors)],
);

export type RegistrationRejectReason =
  | Nulls<
      | 'discoveryRequired'
      | 'invalidRevision'
      | 'invalidCallSignalAddress'
      | 'invalidRASAddress'
      | 'invalidTerminalType'
      | 'undefinedReason'
      | 'transportNotSupported'
      | 'transportQOSNotSupported'
      | 'resourceUnavailable'
      | 'invalidAlias'
      | 'securityDenial'
      | 'fullRegistrationRequired'
      | 'additiveRegistrationNotSupported'
      | 'genericDataReason'
      | 'neededFeatureNotSupported'
      | 'registerWithAssignedGK'
    >
  | { type: 'duplicateAlias'; value: AliasAddress[] }
  /** Holds AddressPattern and SupportedPrefix lists, not modelled. */
  | { type: 'invalidTerminalAliases'; value: Opaque }
  | { type: 'securityError'; value: SecurityErrors }
  | UnknownAlternative;
export const RegistrationRejectReason = choice<RegistrationRejectReason>(
  'RegistrationRejectReason',
  [
    alt('discoveryRequired', NULL),
    alt('invalidRevision', NULL),
    alt('invalidCallSignalAddress', NULL),
    alt('invalidRASAddress', NULL),
    alt('duplicateAlias', sequenceOf(AliasAddress)),
    alt('invalidTerminalType', NULL),
    alt('undefinedReason', NULL),
    alt('transportNotSupported', NULL),
  ],
  [
    alt('transportQOSNotSupported', NULL),
    alt('resourceUnavailable', NULL),
    alt('invalidAlias', NULL),
    alt('securityDenial', NULL),
    alt('fullRegistrationRequired', NULL),
    alt('additiveRegistrationNotSupported', NULL),
    alt('invalidTerminalAliases', OPAQUE),
    alt('genericDataReason', NULL),
    alt('neededFeatureNotSupported', NULL),
    alt('securityError', SecurityErrors),
    alt('registerWithAssignedGK', NULL),
  ],
);

export type UnregRequestReason =
  | Nulls<'reregistrationRequired' | 'ttlExpired' | 'securityDenial' | 'undefinedReason' | 'maintenance' | 'registerWithAssignedGK'>
  | { type: 'securityError'; value: SecurityErrors2 }
  | UnknownAlternative;
export const UnregRequestReason = choice<UnregRequestReason>(
  'UnregRequestReason',
  [alt('reregistrationRequired', NULL), alt('ttlExpired', NULL), alt('securityDenial', NULL), alt('undefinedReason', NULL)],
  [alt('maintenance', NULL), alt('securityError', SecurityErrors2), alt('registerWithAssignedGK', NULL)],
);

export type UnregRejectReason =
  | Nulls<'notCurrentlyRegistered' | 'callInProgress' | 'undefinedReason' | 'permissionDenied' | 'securityDenial'>
  | { type: 'securityError'; value: SecurityErrors2 }
  | UnknownAlternative;
export const UnregRejectReason = choice<UnregRejectReason>(
  'UnregRejectReason',
  [alt('notCurrentlyRegistered', NULL), alt('callInProgress', NULL), alt('undefinedReason', NULL)],
  [alt('permissionDenied', NULL), alt('securityDenial', NULL), alt('securityError', SecurityErrors2)],
);

export type RehomingModel = Nulls<'gatekeeperBased' | 'endpointBased'>;
export const RehomingModel = choice<RehomingModel>('RehomingModel', [alt('gatekeeperBased', NULL), alt('endpointBased', NULL)]);
