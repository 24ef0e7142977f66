/** H.225.0 addresses and non-standard parameters. */
import {
  NULL,
  OBJECT_IDENTIFIER,
  OPAQUE,
  alt,
  bmpString,
  choice,
  field,
  ia5String,
  integer,
  octetString,
  sequence,
  sequenceOf,
  type Opaque,
  type UnknownAlternative,
  type UnknownExtension,
} from '../per/index.js';

export interface H221NonStandard {
  t35CountryCode: number;
  t35Extension: number;
  manufacturerCode: number;
  unknownExtensions?: UnknownExtension[];
}
export const H221NonStandard = sequence<H221NonStandard>(
  'H221NonStandard',
  [field('t35CountryCode', integer(0, 255)), field('t35Extension', integer(0, 255)), field('manufacturerCode', integer(0, 65535))],
  [],
);

export type NonStandardIdentifier = { type: 'object'; value: string } | { type: 'h221NonStandard'; value: H221NonStandard } | UnknownAlternative;
export const NonStandardIdentifier = choice<NonStandardIdentifier>('NonStandardIdentifier', [alt('object', OBJECT_IDENTIFIER), alt('h221NonStandard', H221NonStandard)], []);

export interface NonStandardParameter {
  nonStandardIdentifier: NonStandardIdentifier;
  data: Buffer;
}
export const NonStandardParameter = sequence<NonStandardParameter>('NonStandardParameter', [
  field('nonStandardIdentifier', NonStandardIdentifier),
  field('data', octetString()),
]);

export interface IpAddress {
  /** Four octets. */
  ip: Buffer;
  port: number;
}
export interface IpSourceRoute {
  ip: Buffer;
  port: number;
  route: Buffer[];
  routing: { type: 'strict' | 'loose'; value: null } | UnknownAlternative;
  unknownExtensions?: UnknownExtension[];
}
export interface IpxAddress {
  node: Buffer;
  netnum: Buffer;
  port: Buffer;
}
export interface Ip6Address {
  /** Sixteen octets. */
  ip: Buffer;
  port: number;
  unknownExtensions?: UnknownExtension[];
}

export type TransportAddress =
  | { type: 'ipAddress'; value: IpAddress }
  | { type: 'ipSourceRoute'; value: IpSourceRoute }
  | { type: 'ipxAddress'; value: IpxAddress }
  | { type: 'ip6Address'; value: Ip6Address }
  | { type: 'netBios'; value: Buffer }
  | { type: 'nsap'; value: Buffer }
  | { type: 'nonStandardAddress'; value: NonStandardParameter }
  | UnknownAlternative;

const Port = integer(0, 65535);
const Ip4 = octetString(4, 4);

export const TransportAddress = choice<TransportAddress>(
  'TransportAddress',
  [
    alt('ipAddress', sequence<IpAddress>('ipAddress', [field('ip', Ip4), field('port', Port)])),
    alt(
      'ipSourceRoute',
      sequence<IpSourceRoute>(
        'ipSourceRoute',
        [
          field('ip', Ip4),
          field('port', Port),
          field('route', sequenceOf(Ip4)),
          field('routing', choice<IpSourceRoute['routing']>('routing', [alt('strict', NULL), alt('loose', NULL)], [])),
        ],
        [],
      ),
    ),
    alt(
      'ipxAddress',
      sequence<IpxAddress>('ipxAddress', [field('node', octetString(6, 6)), field('netnum', octetString(4, 4)), field('port', octetString(2, 2))]),
    ),
    alt('ip6Address', sequence<Ip6Address>('ip6Address', [field('ip', octetString(16, 16)), field('port', Port)], [])),
    alt('netBios', octetString(16, 16)),
    alt('nsap', octetString(1, 20)),
    alt('nonStandardAddress', NonStandardParameter),
  ],
  [],
);

/** The characters of dialledDigits and NumberDigits. */
export const DIGITS = '0123456789#*,';

export type AliasAddress =
  | { type: 'dialledDigits'; value: string }
  | { type: 'h323-ID'; value: string }
  | { type: 'url-ID'; value: string }
  | { type: 'transportID'; value: TransportAddress }
  | { type: 'email-ID'; value: string }
  | { type: 'partyNumber'; value: Opaque }
  | { type: 'mobileUIM'; value: Opaque }
  | { type: 'isupNumber'; value: Opaque }
  | UnknownAlternative;
export const AliasAddress = choice<AliasAddress>(
  'AliasAddress',
  [alt('dialledDigits', ia5String(1, 128, { alphabet: DIGITS })), alt('h323-ID', bmpString(1, 256))],
  [
    alt('url-ID', ia5String(1, 512)),
    alt('transportID', TransportAddress),
    alt('email-ID', ia5String(1, 512)),
    alt('partyNumber', OPAQUE),
    alt('mobileUIM', OPAQUE),
    alt('isupNumber', OPAQUE),
  ],
);

export const GatekeeperIdentifier = bmpString(1, 128);
export const EndpointIdentifier = bmpString(1, 128);
