/**
 * The RAS messages keyswitch speaks: gatekeeper discovery (GRQ/GCF/GRJ),
 * registration (RRQ/RCF/RRJ, lightweight RRQ with keepAlive), unregistration
 * (URQ/UCF/URJ) and RequestInProgress. Extension additions the codec does not
 * model are kept as their encodings (Opaque).
 */
import {
  BOOLEAN,
  NULL,
  OBJECT_IDENTIFIER,
  OPAQUE,
  field,
  ia5String,
  integer,
  octetString,
  optional,
  sequence,
  sequenceOf,
  type Opaque,
  type UnknownExtension,
} from '../per/index.js';
import { AliasAddress, EndpointIdentifier, GatekeeperIdentifier, NonStandardParameter, TransportAddress } from './addresses.js';
import { AltGKInfo, AlternateGK, AlternateTransportAddresses, Endpoint, EndpointType, QseriesOptions, SupportedPrefix, VendorIdentifier } from './endpoint.js';
import { AuthenticationMechanism, ClearToken } from './h235.js';
import { GatekeeperRejectReason, RegistrationRejectReason, RehomingModel, UnregRejectReason, UnregRequestReason } from './reasons.js';
import { CryptoH323Token, ICV, IntegrityMechanism } from './security.js';

export const RequestSeqNum = integer(1, 65535);
/** Seconds. */
export const TimeToLive = integer(1, 4294967295);
export const ProtocolIdentifier = OBJECT_IDENTIFIER;

/** H.225.0 version 7 (12/2009). */
export const H225_PROTOCOL_V7 = '0.0.8.2250.0.7';

/** The security fields most RAS messages share (all extension additions except in RIP). */
interface Secured {
  tokens?: ClearToken[];
  cryptoTokens?: CryptoH323Token[];
  integrityCheckValue?: ICV;
}

export interface GatekeeperRequest extends Secured {
  requestSeqNum: number;
  protocolIdentifier: string;
  nonStandardData?: NonStandardParameter;
  rasAddress: TransportAddress;
  endpointType: EndpointType;
  gatekeeperIdentifier?: string;
  callServices?: QseriesOptions;
  endpointAlias?: AliasAddress[];
  alternateEndpoints?: Endpoint[];
  authenticationCapability?: AuthenticationMechanism[];
  algorithmOIDs?: string[];
  integrity?: IntegrityMechanism[];
  supportsAltGK?: null;
  featureSet?: Opaque;
  genericData?: Opaque;
  supportsAssignedGK?: boolean;
  assignedGatekeeper?: AlternateGK;
  unknownExtensions?: UnknownExtension[];
}
export const GatekeeperRequest = sequence<GatekeeperRequest>(
  'GatekeeperRequest',
  [
    field('requestSeqNum', RequestSeqNum),
    field('protocolIdentifier', ProtocolIdentifier),
    optional('nonStandardData', NonStandardParameter),
    field('rasAddress', TransportAddress),
    field('endpointType', EndpointType),
    optional('gatekeeperIdentifier', GatekeeperIdentifier),
    optional('callServices', QseriesOptions),
    optional('endpointAlias', sequenceOf(AliasAddress)),
  ],
  [
    optional('alternateEndpoints', sequenceOf(Endpoint)),
    optional('tokens', sequenceOf(ClearToken)),
    optional('cryptoTokens', sequenceOf(CryptoH323Token)),
    optional('authenticationCapability', sequenceOf(AuthenticationMechanism)),
    optional('algorithmOIDs', sequenceOf(OBJECT_IDENTIFIER)),
    optional('integrity', sequenceOf(IntegrityMechanism)),
    optional('integrityCheckValue', ICV),
    optional('supportsAltGK', NULL),
    optional('featureSet', OPAQUE),
    optional('genericData', OPAQUE),
    field('supportsAssignedGK', BOOLEAN),
    optional('assignedGatekeeper', AlternateGK),
  ],
);

export interface GatekeeperConfirm extends Secured {
  requestSeqNum: number;
  protocolIdentifier: string;
  nonStandardData?: NonStandardParameter;
  gatekeeperIdentifier?: string;
  rasAddress: TransportAddress;
  alternateGatekeeper?: AlternateGK[];
  authenticationMode?: AuthenticationMechanism;
  algorithmOID?: string;
  integrity?: IntegrityMechanism[];
  featureSet?: Opaque;
  genericData?: Opaque;
  assignedGatekeeper?: AlternateGK;
  rehomingModel?: RehomingModel;
  unknownExtensions?: UnknownExtension[];
}
export const GatekeeperConfirm = sequence<GatekeeperConfirm>(
  'GatekeeperConfirm',
  [
    field('requestSeqNum', RequestSeqNum),
    field('protocolIdentifier', ProtocolIdentifier),
    optional('nonStandardData', NonStandardParameter),
    optional('gatekeeperIdentifier', GatekeeperIdentifier),
    field('rasAddress', TransportAddress),
  ],
  [
    optional('alternateGatekeeper', sequenceOf(AlternateGK)),
    optional('authenticationMode', AuthenticationMechanism),
    optional('tokens', sequenceOf(ClearToken)),
    optional('cryptoTokens', sequenceOf(CryptoH323Token)),
    optional('algorithmOID', OBJECT_IDENTIFIER),
    optional('integrity', sequenceOf(IntegrityMechanism)),
    optional('integrityCheckValue', ICV),
    optional('featureSet', OPAQUE),
    optional('genericData', OPAQUE),
    optional('assignedGatekeeper', AlternateGK),
    optional('rehomingModel', RehomingModel),
  ],
);

export interface GatekeeperReject extends Secured {
  requestSeqNum: number;
  protocolIdentifier: string;
  nonStandardData?: NonStandardParameter;
  gatekeeperIdentifier?: string;
  rejectReason: GatekeeperRejectReason;
  altGKInfo?: AltGKInfo;
  featureSet?: Opaque;
  genericData?: Opaque;
  unknownExtensions?: UnknownExtension[];
}
export const GatekeeperReject = sequence<GatekeeperReject>(
  'GatekeeperReject',
  [
    field('requestSeqNum', RequestSeqNum),
    field('protocolIdentifier', ProtocolIdentifier),
    optional('nonStandardData', NonStandardParameter),
    optional('gatekeeperIdentifier', GatekeeperIdentifier),
    field('rejectReason', GatekeeperRejectReason),
  ],
  [
    optional('altGKInfo', AltGKInfo),
    optional('tokens', sequenceOf(ClearToken)),
    optional('cryptoTokens', sequenceOf(CryptoH323Token)),
    optional('integrityCheckValue', ICV),
    optional('featureSet', OPAQUE),
    optional('genericData', OPAQUE),
  ],
);

export interface RegistrationRequest extends Secured {
  requestSeqNum: number;
  protocolIdentifier: string;
  nonStandardData?: NonStandardParameter;
  discoveryComplete: boolean;
  callSignalAddress: TransportAddress[];
  rasAddress: TransportAddress[];
  terminalType: EndpointType;
  terminalAlias?: AliasAddress[];
  gatekeeperIdentifier?: string;
  endpointVendor: VendorIdentifier;
  alternateEndpoints?: Endpoint[];
  timeToLive?: number;
  /** Mandatory since version 2: true for a lightweight RRQ that only refreshes the registration. */
  keepAlive?: boolean;
  endpointIdentifier?: string;
  willSupplyUUIEs?: boolean;
  maintainConnection?: boolean;
  alternateTransportAddresses?: AlternateTransportAddresses;
  additiveRegistration?: null;
  terminalAliasPattern?: Opaque;
  supportsAltGK?: null;
  usageReportingCapability?: Opaque;
  multipleCalls?: boolean;
  supportedH248Packages?: Buffer[];
  callCreditCapability?: Opaque;
  capacityReportingCapability?: Opaque;
  capacity?: Opaque;
  featureSet?: Opaque;
  genericData?: Opaque;
  restart?: null;
  supportsACFSequences?: null;
  supportsAssignedGK?: boolean;
  assignedGatekeeper?: AlternateGK;
  transportQOS?: Opaque;
  language?: string[];
  unknownExtensions?: UnknownExtension[];
}
export const RegistrationRequest = sequence<RegistrationRequest>(
  'RegistrationRequest',
  [
    field('requestSeqNum', RequestSeqNum),
    field('protocolIdentifier', ProtocolIdentifier),
    optional('nonStandardData', NonStandardParameter),
    field('discoveryComplete', BOOLEAN),
    field('callSignalAddress', sequenceOf(TransportAddress)),
    field('rasAddress', sequenceOf(TransportAddress)),
    field('terminalType', EndpointType),
    optional('terminalAlias', sequenceOf(AliasAddress)),
    optional('gatekeeperIdentifier', GatekeeperIdentifier),
    field('endpointVendor', VendorIdentifier),
  ],
  [
    optional('alternateEndpoints', sequenceOf(Endpoint)),
    optional('timeToLive', TimeToLive),
    optional('tokens', sequenceOf(ClearToken)),
    optional('cryptoTokens', sequenceOf(CryptoH323Token)),
    optional('integrityCheckValue', ICV),
    field('keepAlive', BOOLEAN),
    optional('endpointIdentifier', EndpointIdentifier),
    field('willSupplyUUIEs', BOOLEAN),
    field('maintainConnection', BOOLEAN),
    optional('alternateTransportAddresses', AlternateTransportAddresses),
    optional('additiveRegistration', NULL),
    optional('terminalAliasPattern', OPAQUE),
    optional('supportsAltGK', NULL),
    optional('usageReportingCapability', OPAQUE),
    optional('multipleCalls', BOOLEAN),
    optional('supportedH248Packages', sequenceOf(octetString())),
    optional('callCreditCapability', OPAQUE),
    optional('capacityReportingCapability', OPAQUE),
    optional('capacity', OPAQUE),
    optional('featureSet', OPAQUE),
    optional('genericData', OPAQUE),
    optional('restart', NULL),
    optional('supportsACFSequences', NULL),
    field('supportsAssignedGK', BOOLEAN),
    optional('assignedGatekeeper', AlternateGK),
    optional('transportQOS', OPAQUE),
    optional('language', sequenceOf(ia5String(1, 32))),
  ],
);

export interface RegistrationConfirm extends Secured {
  requestSeqNum: number;
  protocolIdentifier: string;
  nonStandardData?: NonStandardParameter;
  callSignalAddress: TransportAddress[];
  terminalAlias?: AliasAddress[];
  gatekeeperIdentifier?: string;
  endpointIdentifier: string;
  alternateGatekeeper?: AlternateGK[];
  timeToLive?: number;
  willRespondToIRR?: boolean;
  preGrantedARQ?: Opaque;
  maintainConnection?: boolean;
  serviceControl?: Opaque;
  supportsAdditiveRegistration?: null;
  terminalAliasPattern?: Opaque;
  supportedPrefixes?: SupportedPrefix[];
  usageSpec?: Opaque;
  featureServerAlias?: AliasAddress;
  capacityReportingSpec?: Opaque;
  featureSet?: Opaque;
  genericData?: Opaque;
  assignedGatekeeper?: AlternateGK;
  rehomingModel?: RehomingModel;
  transportQOS?: Opaque;
  unknownExtensions?: UnknownExtension[];
}
export const RegistrationConfirm = sequence<RegistrationConfirm>(
  'RegistrationConfirm',
  [
    field('requestSeqNum', RequestSeqNum),
    field('protocolIdentifier', ProtocolIdentifier),
    optional('nonStandardData', NonStandardParameter),
    field('callSignalAddress', sequenceOf(TransportAddress)),
    optional('terminalAlias', sequenceOf(AliasAddress)),
    optional('gatekeeperIdentifier', GatekeeperIdentifier),
    field('endpointIdentifier', EndpointIdentifier),
  ],
  [
    optional('alternateGatekeeper', sequenceOf(AlternateGK)),
    optional('timeToLive', TimeToLive),
    optional('tokens', sequenceOf(ClearToken)),
    optional('cryptoTokens', sequenceOf(CryptoH323Token)),
    optional('integrityCheckValue', ICV),
    field('willRespondToIRR', BOOLEAN),
    optional('preGrantedARQ', OPAQUE),
    field('maintainConnection', BOOLEAN),
    optional('serviceControl', OPAQUE),
    optional('supportsAdditiveRegistration', NULL),
    optional('terminalAliasPattern', OPAQUE),
    optional('supportedPrefixes', sequenceOf(SupportedPrefix)),
    optional('usageSpec', OPAQUE),
    optional('featureServerAlias', AliasAddress),
    optional('capacityReportingSpec', OPAQUE),
    optional('featureSet', OPAQUE),
    optional('genericData', OPAQUE),
    optional('assignedGatekeeper', AlternateGK),
    optional('rehomingModel', RehomingModel),
    optional('transportQOS', OPAQUE),
  ],
);

export interface RegistrationReject extends Secured {
  requestSeqNum: number;
  protocolIdentifier: string;
  nonStandardData?: NonStandardParameter;
  rejectReason: RegistrationRejectReason;
  gatekeeperIdentifier?: string;
  altGKInfo?: AltGKInfo;
  featureSet?: Opaque;
  genericData?: Opaque;
  assignedGatekeeper?: AlternateGK;
  unknownExtensions?: UnknownExtension[];
}
export const RegistrationReject = sequence<RegistrationReject>(
  'RegistrationReject',
  [
    field('requestSeqNum', RequestSeqNum),
    field('protocolIdentifier', ProtocolIdentifier),
    optional('nonStandardData', NonStandardParameter),
    field('rejectReason', RegistrationRejectReason),
    optional('gatekeeperIdentifier', GatekeeperIdentifier),
  ],
  [
    optional('altGKInfo', AltGKInfo),
    optional('tokens', sequenceOf(ClearToken)),
    optional('cryptoTokens', sequenceOf(CryptoH323Token)),
    optional('integrityCheckValue', ICV),
    optional('featureSet', OPAQUE),
    optional('genericData', OPAQUE),
    optional('assignedGatekeeper', AlternateGK),
  ],
);

export interface UnregistrationRequest extends Secured {
  requestSeqNum: number;
  callSignalAddress: TransportAddress[];
  endpointAlias?: AliasAddress[];
  nonStandardData?: NonStandardParameter;
  endpointIdentifier?: string;
  alternateEndpoints?: Endpoint[];
  gatekeeperIdentifier?: string;
  reason?: UnregRequestReason;
  endpointAliasPattern?: Opaque;
  supportedPrefixes?: SupportedPrefix[];
  alternateGatekeeper?: AlternateGK[];
  genericData?: Opaque;
  assignedGatekeeper?: AlternateGK;
  unknownExtensions?: UnknownExtension[];
}
export const UnregistrationRequest = sequence<UnregistrationRequest>(
  'UnregistrationRequest',
  [
    field('requestSeqNum', RequestSeqNum),
    field('callSignalAddress', sequenceOf(TransportAddress)),
    optional('endpointAlias', sequenceOf(AliasAddress)),
    optional('nonStandardData', NonStandardParameter),
    optional('endpointIdentifier', EndpointIdentifier),
  ],
  [
    optional('alternateEndpoints', sequenceOf(Endpoint)),
    optional('gatekeeperIdentifier', GatekeeperIdentifier),
    optional('tokens', sequenceOf(ClearToken)),
    optional('cryptoTokens', sequenceOf(CryptoH323Token)),
    optional('integrityCheckValue', ICV),
    optional('reason', UnregRequestReason),
    optional('endpointAliasPattern', OPAQUE),
    optional('supportedPrefixes', sequenceOf(SupportedPrefix)),
    optional('alternateGatekeeper', sequenceOf(AlternateGK)),
    optional('genericData', OPAQUE),
    optional('assignedGatekeeper', AlternateGK),
  ],
);

export interface UnregistrationConfirm extends Secured {
  requestSeqNum: number;
  nonStandardData?: NonStandardParameter;
  genericData?: Opaque;
  assignedGatekeeper?: AlternateGK;
  unknownExtensions?: UnknownExtension[];
}
export const UnregistrationConfirm = sequence<UnregistrationConfirm>(
  'UnregistrationConfirm',
  [field('requestSeqNum', RequestSeqNum), optional('nonStandardData', NonStandardParameter)],
  [
    optional('tokens', sequenceOf(ClearToken)),
    optional('cryptoTokens', sequenceOf(CryptoH323Token)),
    optional('integrityCheckValue', ICV),
    optional('genericData', OPAQUE),
    optional('assignedGatekeeper', AlternateGK),
  ],
);

export interface UnregistrationReject extends Secured {
  requestSeqNum: number;
  rejectReason: UnregRejectReason;
  nonStandardData?: NonStandardParameter;
  altGKInfo?: AltGKInfo;
  genericData?: Opaque;
  unknownExtensions?: UnknownExtension[];
}
export const UnregistrationReject = sequence<UnregistrationReject>(
  'UnregistrationReject',
  [field('requestSeqNum', RequestSeqNum), field('rejectReason', UnregRejectReason), optional('nonStandardData', NonStandardParameter)],
  [
    optional('altGKInfo', AltGKInfo),
    optional('tokens', sequenceOf(ClearToken)),
    optional('cryptoTokens', sequenceOf(CryptoH323Token)),
    optional('integrityCheckValue', ICV),
    optional('genericData', OPAQUE),
  ],
);

/** RIP: the answer will take `delay` milliseconds more; the requester waits instead of retrying. */
export interface RequestInProgress extends Secured {
  requestSeqNum: number;
  nonStandardData?: NonStandardParameter;
  delay: number;
  unknownExtensions?: UnknownExtension[];
}
export const RequestInProgress = sequence<RequestInProgress>(
  'RequestInProgress',
  [
    field('requestSeqNum', RequestSeqNum),
    optional('nonStandardData', NonStandardParameter),
    optional('tokens', sequenceOf(ClearToken)),
    optional('cryptoTokens', sequenceOf(CryptoH323Token)),
    optional('integrityCheckValue', ICV),
    field('delay', integer(1, 65535)),
  ],
  [],
);
