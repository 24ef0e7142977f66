/**
 * Skeletons of the RAS messages keyswitch sends (H.225.0 version 7 with
 * its mandatory extension additions), and small readers. The KS1 and H.235
 * tokens are added by ks1.ts, protect.ts and h2351.ts.
 */
import {
  H225_PROTOCOL_V7,
  type AliasAddress,
  type AuthenticationMechanism,
  type ClearToken,
  type CryptoH323Token,
  type EndpointType,
  type GatekeeperRejectReason,
  type RasMessage,
  type RegistrationRejectReason,
  type TransportAddress,
  type UnregRejectReason,
  type VendorIdentifier,
} from '../../h323/index.js';
import { isIP } from 'node:net';

export const VENDOR: VendorIdentifier = {
  // T.35 country code 181 (United States), manufacturer 0x4B53 ("KS"): a placeholder, as the OIDs are.
  vendor: { t35CountryCode: 181, t35Extension: 0, manufacturerCode: 0x4b53 },
  productId: Buffer.from('keyswitch'),
  versionId: Buffer.from('0.1.0'),
};

export const TERMINAL: EndpointType = { vendor: VENDOR, terminal: {}, mc: false, undefinedNode: false };
export const GATEKEEPER: EndpointType = { vendor: VENDOR, gatekeeper: {}, mc: false, undefinedNode: false };

/** A TransportAddress for an IPv4 or IPv6 address (anything else: 0.0.0.0). */
export function transportAddress(host: string, port: number): TransportAddress {
  const h = host.startsWith('::ffff:') && isIP(host.slice(7)) === 4 ? host.slice(7) : host;
  if (isIP(h) === 6) return { type: 'ip6Address', value: { ip: ip6Bytes(h), port } };
  const ip = isIP(h) === 4 ? Buffer.from(h.split('.').map(Number)) : Buffer.alloc(4);
  return { type: 'ipAddress', value: { ip, port } };
}

function ip6Bytes(ip: string): Buffer {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16) & 0xffff, i * 2));
  return out;
}

export const h323Id = (id: string): AliasAddress => ({ type: 'h323-ID', value: id });

/** The first h323-ID among aliases. */
export function firstH323Id(aliases: AliasAddress[] | undefined): string | undefined {
  for (const a of aliases ?? []) if (a.type === 'h323-ID') return a.value as string;
  return undefined;
}

export interface Tokens {
  tokens?: ClearToken[];
  cryptoTokens?: CryptoH323Token[];
}

export function grq(
  seq: number,
  o: { ras: TransportAddress; alias: string; gatekeeperId?: string; type?: EndpointType; capability?: AuthenticationMechanism[]; algorithmOIDs?: string[] } & Tokens,
): RasMessage {
  return {
    type: 'gatekeeperRequest',
    value: {
      requestSeqNum: seq,
      protocolIdentifier: H225_PROTOCOL_V7,
      rasAddress: o.ras,
      endpointType: o.type ?? TERMINAL,
      ...(o.gatekeeperId ? { gatekeeperIdentifier: o.gatekeeperId } : {}),
      endpointAlias: [h323Id(o.alias)],
      ...(o.tokens ? { tokens: o.tokens } : {}),
      ...(o.cryptoTokens ? { cryptoTokens: o.cryptoTokens } : {}),
      ...(o.capability ? { authenticationCapability: o.capability } : {}),
      ...(o.algorithmOIDs ? { algorithmOIDs: o.algorithmOIDs } : {}),
      supportsAssignedGK: false,
    },
  };
}

export function gcf(seq: number, o: { ras: TransportAddress; gatekeeperId: string; pwdHash?: string }): RasMessage {
  return {
    type: 'gatekeeperConfirm',
    value: {
      requestSeqNum: seq,
      protocolIdentifier: H225_PROTOCOL_V7,
      gatekeeperIdentifier: o.gatekeeperId,
      rasAddress: o.ras,
      ...(o.pwdHash ? { authenticationMode: { type: 'pwdHash', value: null }, algorithmOID: o.pwdHash } : {}),
    },
  };
}

export function grj(seq: number, reason: GatekeeperRejectReason, o: { gatekeeperId?: string } & Tokens = {}): RasMessage {
  return {
    type: 'gatekeeperReject',
    value: {
      requestSeqNum: seq,
      protocolIdentifier: H225_PROTOCOL_V7,
      ...(o.gatekeeperId ? { gatekeeperIdentifier: o.gatekeeperId } : {}),
      rejectReason: reason,
      ...(o.tokens ? { tokens: o.tokens } : {}),
      ...(o.cryptoTokens ? { cryptoTokens: o.cryptoTokens } : {}),
    },
  };
}

export function rrq(
  seq: number,
  o: { ras: TransportAddress; alias?: string; gatekeeperId?: string; timeToLive?: number; keepAlive?: boolean; endpointIdentifier?: string } & Tokens,
): RasMessage {
  return {
    type: 'registrationRequest',
    value: {
      requestSeqNum: seq,
      protocolIdentifier: H225_PROTOCOL_V7,
      discoveryComplete: false,
      // No call signalling here: registration only.
      callSignalAddress: [],
      rasAddress: [o.ras],
      terminalType: TERMINAL,
      ...(o.alias ? { terminalAlias: [h323Id(o.alias)] } : {}),
      ...(o.gatekeeperId ? { gatekeeperIdentifier: o.gatekeeperId } : {}),
      endpointVendor: VENDOR,
      ...(o.timeToLive ? { timeToLive: o.timeToLive } : {}),
      ...(o.tokens ? { tokens: o.tokens } : {}),
      ...(o.cryptoTokens ? { cryptoTokens: o.cryptoTokens } : {}),
      keepAlive: o.keepAlive ?? false,
      ...(o.endpointIdentifier ? { endpointIdentifier: o.endpointIdentifier } : {}),
      willSupplyUUIEs: false,
      maintainConnection: false,
      supportsAssignedGK: false,
    },
  };
}

export function rcf(seq: number, o: { endpointIdentifier: string; alias?: string; gatekeeperId?: string; timeToLive?: number } & Tokens): RasMessage {
  return {
    type: 'registrationConfirm',
    value: {
      requestSeqNum: seq,
      protocolIdentifier: H225_PROTOCOL_V7,
      callSignalAddress: [],
      ...(o.alias ? { terminalAlias: [h323Id(o.alias)] } : {}),
      ...(o.gatekeeperId ? { gatekeeperIdentifier: o.gatekeeperId } : {}),
      endpointIdentifier: o.endpointIdentifier,
      ...(o.timeToLive ? { timeToLive: o.timeToLive } : {}),
      ...(o.tokens ? { tokens: o.tokens } : {}),
      ...(o.cryptoTokens ? { cryptoTokens: o.cryptoTokens } : {}),
      willRespondToIRR: false,
      maintainConnection: false,
    },
  };
}

export function rrj(seq: number, reason: RegistrationRejectReason, o: { gatekeeperId?: string } & Tokens = {}): RasMessage {
  return {
    type: 'registrationReject',
    value: {
      requestSeqNum: seq,
      protocolIdentifier: H225_PROTOCOL_V7,
      rejectReason: reason,
      ...(o.gatekeeperId ? { gatekeeperIdentifier: o.gatekeeperId } : {}),
      ...(o.tokens ? { tokens: o.tokens } : {}),
      ...(o.cryptoTokens ? { cryptoTokens: o.cryptoTokens } : {}),
    },
  };
}

export function urq(seq: number, o: { endpointIdentifier: string; alias?: string; gatekeeperId?: string; reason?: 'ttlExpired' | 'maintenance' | 'undefinedReason' } & Tokens): RasMessage {
  return {
    type: 'unregistrationRequest',
    value: {
      requestSeqNum: seq,
      callSignalAddress: [],
      ...(o.alias ? { endpointAlias: [h323Id(o.alias)] } : {}),
      endpointIdentifier: o.endpointIdentifier,
      ...(o.gatekeeperId ? { gatekeeperIdentifier: o.gatekeeperId } : {}),
      ...(o.tokens ? { tokens: o.tokens } : {}),
      ...(o.cryptoTokens ? { cryptoTokens: o.cryptoTokens } : {}),
      ...(o.reason ? { reason: { type: o.reason, value: null } } : {}),
    },
  };
}

export function ucf(seq: number, o: Tokens = {}): RasMessage {
  return { type: 'unregistrationConfirm', value: { requestSeqNum: seq, ...o } };
}

export function urj(seq: number, reason: UnregRejectReason, o: Tokens = {}): RasMessage {
  return { type: 'unregistrationReject', value: { requestSeqNum: seq, rejectReason: reason, ...o } };
}

/** The reasons keyswitch uses, as values. */
export const R = {
  securityDenial: { type: 'securityDenial', value: null },
  resourceUnavailable: { type: 'resourceUnavailable', value: null },
  terminalExcluded: { type: 'terminalExcluded', value: null },
  undefinedReason: { type: 'undefinedReason', value: null },
  neededFeatureNotSupported: { type: 'neededFeatureNotSupported', value: null },
  fullRegistrationRequired: { type: 'fullRegistrationRequired', value: null },
  notCurrentlyRegistered: { type: 'notCurrentlyRegistered', value: null },
  securityError: (e: 'securityWrongSyncTime' | 'securityReplay' | 'securityWrongGeneralID' | 'securityWrongSendersID' | 'securityIntegrityFailed' | 'securityWrongOID') =>
    ({ type: 'securityError', value: { type: e, value: null } }) as const,
} as const;

/** The name of a reject reason, with the security error inside it (`securityError/securityReplay`). */
export function reasonName(r: { type: string; value?: unknown }): string {
  if (r.type === 'securityError') return `securityError/${(r.value as { type: string }).type}`;
  return r.type;
}
