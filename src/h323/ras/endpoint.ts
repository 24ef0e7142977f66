/** What an endpoint says about itself: EndpointType, VendorIdentifier, protocols, alternates. */
import {
  BOOLEAN,
  OBJECT_IDENTIFIER,
  OPAQUE,
  alt,
  bitString,
  choice,
  field,
  ia5String,
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
import { AliasAddress, GatekeeperIdentifier, H221NonStandard, NonStandardParameter, TransportAddress } from './addresses.js';
import { ClearToken } from './h235.js';
import { CryptoH323Token } from './security.js';

export interface VendorIdentifier {
  vendor: H221NonStandard;
  productId?: Buffer;
  versionId?: Buffer;
  enterpriseNumber?: string;
  unknownExtensions?: UnknownExtension[];
}
export const VendorIdentifier = sequence<VendorIdentifier>(
  'VendorIdentifier',
  [field('vendor', H221NonStandard), optional('productId', octetString(1, 256)), optional('versionId', octetString(1, 256))],
  [optional('enterpriseNumber', OBJECT_IDENTIFIER)],
);

/** BandWidth: hundreds of bits per second. */
export const BandWidth = integer(0, 4294967295);

export interface DataRate {
  nonStandardData?: NonStandardParameter;
  channelRate: number;
  channelMultiplier?: number;
  unknownExtensions?: UnknownExtension[];
}
export const DataRate = sequence<DataRate>(
  'DataRate',
  [optional('nonStandardData', NonStandardParameter), field('channelRate', BandWidth), optional('channelMultiplier', integer(1, 256))],
  [],
);

export interface SupportedPrefix {
  nonStandardData?: NonStandardParameter;
  prefix: AliasAddress;
  unknownExtensions?: UnknownExtension[];
}
export const SupportedPrefix = sequence<SupportedPrefix>('SupportedPrefix', [optional('nonStandardData', NonStandardParameter), field('prefix', AliasAddress)], []);

/** H310Caps … T120OnlyCaps all have this shape. */
export interface Caps {
  nonStandardData?: NonStandardParameter;
  dataRatesSupported?: DataRate[];
  supportedPrefixes?: SupportedPrefix[];
  unknownExtensions?: UnknownExtension[];
}
function caps(name: string): Codec<Caps> {
  return sequence<Caps>(
    name,
    [optional('nonStandardData', NonStandardParameter)],
    [optional('dataRatesSupported', sequenceOf(DataRate)), field('supportedPrefixes', sequenceOf(SupportedPrefix))],
  );
}

export interface NonStandardProtocol {
  nonStandardData?: NonStandardParameter;
  dataRatesSupported?: DataRate[];
  supportedPrefixes: SupportedPrefix[];
  unknownExtensions?: UnknownExtension[];
}
export interface SIPCaps {
  nonStandardData?: NonStandardParameter;
  dataRatesSupported?: DataRate[];
  supportedPrefixes?: SupportedPrefix[];
  unknownExtensions?: UnknownExtension[];
}

export type SupportedProtocols =
  | { type: 'nonStandardData'; value: NonStandardParameter }
  | { type: 'h310' | 'h320' | 'h321' | 'h322' | 'h323' | 'h324' | 'voice' | 't120-only'; value: Caps }
  | { type: 'nonStandardProtocol'; value: NonStandardProtocol }
  /** Holds H.245 types, not modelled. */
  | { type: 't38FaxAnnexbOnly'; value: Opaque }
  | { type: 'sip'; value: SIPCaps }
  | UnknownAlternative;
export const SupportedProtocols = choice<SupportedProtocols>(
  'SupportedProtocols',
  [
    alt('nonStandardData', NonStandardParameter),
    alt('h310', caps('H310Caps')),
    alt('h320', caps('H320Caps')),
    alt('h321', caps('H321Caps')),
    alt('h322', caps('H322Caps')),
    alt('h323', caps('H323Caps')),
    alt('h324', caps('H324Caps')),
    alt('voice', caps('VoiceCaps')),
    alt('t120-only', caps('T120OnlyCaps')),
  ],
  [
    alt(
      'nonStandardProtocol',
      sequence<NonStandardProtocol>(
        'NonStandardProtocol',
        [optional('nonStandardData', NonStandardParameter), optional('dataRatesSupported', sequenceOf(DataRate)), field('supportedPrefixes', sequenceOf(SupportedPrefix))],
        [],
      ),
    ),
    alt('t38FaxAnnexbOnly', OPAQUE),
    alt(
      'sip',
      sequence<SIPCaps>(
        'SIPCaps',
        [optional('nonStandardData', NonStandardParameter), optional('dataRatesSupported', sequenceOf(DataRate)), optional('supportedPrefixes', sequenceOf(SupportedPrefix))],
        [],
      ),
    ),
  ],
);

export interface GatewayInfo {
  protocol?: SupportedProtocols[];
  nonStandardData?: NonStandardParameter;
  unknownExtensions?: UnknownExtension[];
}
export const GatewayInfo = sequence<GatewayInfo>('GatewayInfo', [optional('protocol', sequenceOf(SupportedProtocols)), optional('nonStandardData', NonStandardParameter)], []);

export interface McuInfo {
  nonStandardData?: NonStandardParameter;
  protocol?: SupportedProtocols[];
  unknownExtensions?: UnknownExtension[];
}
export const McuInfo = sequence<McuInfo>('McuInfo', [optional('nonStandardData', NonStandardParameter)], [optional('protocol', sequenceOf(SupportedProtocols))]);

/** TerminalInfo and GatekeeperInfo. */
export interface NodeInfo {
  nonStandardData?: NonStandardParameter;
  unknownExtensions?: UnknownExtension[];
}
export const TerminalInfo = sequence<NodeInfo>('TerminalInfo', [optional('nonStandardData', NonStandardParameter)], []);
export const GatekeeperInfo = sequence<NodeInfo>('GatekeeperInfo', [optional('nonStandardData', NonStandardParameter)], []);

export interface TunnelledProtocolAlternateIdentifier {
  protocolType: string;
  protocolVariant?: string;
  unknownExtensions?: UnknownExtension[];
}
export interface TunnelledProtocol {
  id: { type: 'tunnelledProtocolObjectID'; value: string } | { type: 'tunnelledProtocolAlternateID'; value: TunnelledProtocolAlternateIdentifier } | UnknownAlternative;
  subIdentifier?: string;
  unknownExtensions?: UnknownExtension[];
}
export const TunnelledProtocol = sequence<TunnelledProtocol>(
  'TunnelledProtocol',
  [
    field(
      'id',
      choice<TunnelledProtocol['id']>(
        'id',
        [
          alt('tunnelledProtocolObjectID', OBJECT_IDENTIFIER),
          alt(
            'tunnelledProtocolAlternateID',
            sequence<TunnelledProtocolAlternateIdentifier>(
              'TunnelledProtocolAlternateIdentifier',
              [field('protocolType', ia5String(1, 64)), optional('protocolVariant', ia5String(1, 64))],
              [],
            ),
          ),
        ],
        [],
      ),
    ),
    optional('subIdentifier', ia5String(1, 64)),
  ],
  [],
);

export interface EndpointType {
  nonStandardData?: NonStandardParameter;
  vendor?: VendorIdentifier;
  gatekeeper?: NodeInfo;
  gateway?: GatewayInfo;
  mcu?: McuInfo;
  terminal?: NodeInfo;
  mc: boolean;
  undefinedNode: boolean;
  /** 32 bits: SET device code points. */
  set?: BitString;
  supportedTunnelledProtocols?: TunnelledProtocol[];
  unknownExtensions?: UnknownExtension[];
}
export const EndpointType = sequence<EndpointType>(
  'EndpointType',
  [
    optional('nonStandardData', NonStandardParameter),
    optional('vendor', VendorIdentifier),
    optional('gatekeeper', GatekeeperInfo),
    optional('gateway', GatewayInfo),
    optional('mcu', McuInfo),
    optional('terminal', TerminalInfo),
    field('mc', BOOLEAN),
    field('undefinedNode', BOOLEAN),
  ],
  [optional('set', bitString(32, 32)), optional('supportedTunnelledProtocols', sequenceOf(TunnelledProtocol))],
);

export interface Q954Details {
  conferenceCalling: boolean;
  threePartyService: boolean;
  unknownExtensions?: UnknownExtension[];
}
export interface QseriesOptions {
  q932Full: boolean;
  q951Full: boolean;
  q952Full: boolean;
  q953Full: boolean;
  q955Full: boolean;
  q956Full: boolean;
  q957Full: boolean;
  q954Info: Q954Details;
  unknownExtensions?: UnknownExtension[];
}
export const QseriesOptions = sequence<QseriesOptions>(
  'QseriesOptions',
  [
    field('q932Full', BOOLEAN),
    field('q951Full', BOOLEAN),
    field('q952Full', BOOLEAN),
    field('q953Full', BOOLEAN),
    field('q955Full', BOOLEAN),
    field('q956Full', BOOLEAN),
    field('q957Full', BOOLEAN),
    field('q954Info', sequence<Q954Details>('Q954Details', [field('conferenceCalling', BOOLEAN), field('threePartyService', BOOLEAN)], [])),
  ],
  [],
);

export interface AlternateGK {
  rasAddress: TransportAddress;
  gatekeeperIdentifier?: string;
  needToRegister: boolean;
  priority: number;
  unknownExtensions?: UnknownExtension[];
}
export const AlternateGK = sequence<AlternateGK>(
  'AlternateGK',
  [field('rasAddress', TransportAddress), optional('gatekeeperIdentifier', GatekeeperIdentifier), field('needToRegister', BOOLEAN), field('priority', integer(0, 127))],
  [],
);

export interface AltGKInfo {
  alternateGatekeeper: AlternateGK[];
  altGKisPermanent: boolean;
  unknownExtensions?: UnknownExtension[];
}
export const AltGKInfo = sequence<AltGKInfo>('AltGKInfo', [field('alternateGatekeeper', sequenceOf(AlternateGK)), field('altGKisPermanent', BOOLEAN)], []);

export interface AlternateTransportAddresses {
  annexE?: TransportAddress[];
  sctp?: TransportAddress[];
  unknownExtensions?: UnknownExtension[];
}
export const AlternateTransportAddresses = sequence<AlternateTransportAddresses>(
  'AlternateTransportAddresses',
  [optional('annexE', sequenceOf(TransportAddress))],
  [optional('sctp', sequenceOf(TransportAddress))],
);

export interface Endpoint {
  nonStandardData?: NonStandardParameter;
  aliasAddress?: AliasAddress[];
  callSignalAddress?: TransportAddress[];
  rasAddress?: TransportAddress[];
  endpointType?: EndpointType;
  tokens?: ClearToken[];
  cryptoTokens?: CryptoH323Token[];
  priority?: number;
  remoteExtensionAddress?: AliasAddress[];
  destExtraCallInfo?: AliasAddress[];
  alternateTransportAddresses?: AlternateTransportAddresses;
  circuitInfo?: Opaque;
  featureSet?: Opaque;
  unknownExtensions?: UnknownExtension[];
}
export const Endpoint: Codec<Endpoint> = sequence<Endpoint>(
  'Endpoint',
  [
    optional('nonStandardData', NonStandardParameter),
    optional('aliasAddress', sequenceOf(AliasAddress)),
    optional('callSignalAddress', sequenceOf(TransportAddress)),
    optional('rasAddress', sequenceOf(TransportAddress)),
    optional('endpointType', EndpointType),
    optional('tokens', sequenceOf(ClearToken)),
    optional('cryptoTokens', sequenceOf(CryptoH323Token)),
    optional('priority', integer(0, 127)),
    optional('remoteExtensionAddress', sequenceOf(AliasAddress)),
    optional('destExtraCallInfo', sequenceOf(AliasAddress)),
  ],
  [optional('alternateTransportAddresses', AlternateTransportAddresses), optional('circuitInfo', OPAQUE), optional('featureSet', OPAQUE)],
);
