/**
 * AVP and command definitions, looked up by (vendor, code) through nested
 * Maps and by name through one Map: the codec never scans a list.
 */
import { APP_BASE, APP_CX, VENDOR_3GPP, VENDOR_IETF, VENDOR_KEYSWITCH } from './constants.js';

export type AvpType =
  | 'OctetString'
  | 'UTF8String'
  | 'DiameterIdentity'
  | 'DiameterURI'
  | 'Unsigned32'
  | 'Unsigned64'
  | 'Integer32'
  | 'Integer64'
  | 'Float32'
  | 'Float64'
  | 'Enumerated'
  | 'Address'
  | 'Time'
  | 'Grouped';

export interface AvpDef {
  name: string;
  code: number;
  vendorId: number;
  type: AvpType;
  /** Whether we send it with the M bit. */
  mandatory: boolean;
}

export interface CommandDef {
  name: string;
  code: number;
  applicationId: number;
  /** Abbreviations of the request and the answer, e.g. MAR / MAA. */
  request: string;
  answer: string;
}

export class Dictionary {
  private readonly byVendor = new Map<number, Map<number, AvpDef>>();
  private readonly avpByName = new Map<string, AvpDef>();
  private readonly commandByKey = new Map<number, Map<number, CommandDef>>();
  private readonly commandByName = new Map<string, CommandDef>();

  constructor(avps: readonly AvpDef[] = [], commands: readonly CommandDef[] = []) {
    for (const a of avps) this.addAvp(a);
    for (const c of commands) this.addCommand(c);
  }

  addAvp(def: AvpDef): void {
    let codes = this.byVendor.get(def.vendorId);
    if (!codes) this.byVendor.set(def.vendorId, (codes = new Map()));
    codes.set(def.code, def);
    this.avpByName.set(def.name, def);
  }

  addCommand(def: CommandDef): void {
    let codes = this.commandByKey.get(def.applicationId);
    if (!codes) this.commandByKey.set(def.applicationId, (codes = new Map()));
    codes.set(def.code, def);
    this.commandByName.set(def.name, def);
  }

  avp(code: number, vendorId = VENDOR_IETF): AvpDef | undefined {
    return this.byVendor.get(vendorId)?.get(code);
  }

  avpNamed(name: string): AvpDef | undefined {
    return this.avpByName.get(name);
  }

  command(code: number, applicationId: number): CommandDef | undefined {
    return this.commandByKey.get(applicationId)?.get(code);
  }

  commandNamed(name: string): CommandDef | undefined {
    return this.commandByName.get(name);
  }
}

const ietf = (code: number, name: string, type: AvpType, mandatory = true): AvpDef => ({
  name,
  code,
  vendorId: VENDOR_IETF,
  type,
  mandatory,
});
const tgpp = (code: number, name: string, type: AvpType, mandatory = true): AvpDef => ({
  name,
  code,
  vendorId: VENDOR_3GPP,
  type,
  mandatory,
});
// Our AVPs never carry the M bit, so a peer that does not know them can ignore them.
const ks = (code: number, name: string, type: AvpType): AvpDef => ({
  name,
  code,
  vendorId: VENDOR_KEYSWITCH,
  type,
  mandatory: false,
});

/** RFC 6733 base protocol AVPs, plus the RFC 4590 Digest AVPs that TS 29.229 reuses. */
export const BASE_AVPS: readonly AvpDef[] = [
  ietf(1, 'User-Name', 'UTF8String'),
  ietf(25, 'Class', 'OctetString'),
  ietf(27, 'Session-Timeout', 'Unsigned32'),
  ietf(33, 'Proxy-State', 'OctetString'),
  ietf(55, 'Event-Timestamp', 'Time'),
  ietf(257, 'Host-IP-Address', 'Address'),
  ietf(258, 'Auth-Application-Id', 'Unsigned32'),
  ietf(259, 'Acct-Application-Id', 'Unsigned32'),
  ietf(260, 'Vendor-Specific-Application-Id', 'Grouped'),
  ietf(261, 'Redirect-Host-Usage', 'Enumerated'),
  ietf(262, 'Redirect-Max-Cache-Time', 'Unsigned32'),
  ietf(263, 'Session-Id', 'UTF8String'),
  ietf(264, 'Origin-Host', 'DiameterIdentity'),
  ietf(265, 'Supported-Vendor-Id', 'Unsigned32'),
  ietf(266, 'Vendor-Id', 'Unsigned32'),
  ietf(267, 'Firmware-Revision', 'Unsigned32', false),
  ietf(268, 'Result-Code', 'Unsigned32'),
  ietf(269, 'Product-Name', 'UTF8String', false),
  ietf(270, 'Session-Binding', 'Unsigned32'),
  ietf(271, 'Session-Server-Failover', 'Enumerated'),
  ietf(272, 'Multi-Round-Time-Out', 'Unsigned32'),
  ietf(273, 'Disconnect-Cause', 'Enumerated'),
  ietf(274, 'Auth-Request-Type', 'Enumerated'),
  ietf(276, 'Auth-Grace-Period', 'Unsigned32'),
  ietf(277, 'Auth-Session-State', 'Enumerated'),
  ietf(278, 'Origin-State-Id', 'Unsigned32'),
  ietf(279, 'Failed-AVP', 'Grouped'),
  ietf(280, 'Proxy-Host', 'DiameterIdentity'),
  ietf(281, 'Error-Message', 'UTF8String', false),
  ietf(282, 'Route-Record', 'DiameterIdentity'),
  ietf(283, 'Destination-Realm', 'DiameterIdentity'),
  ietf(284, 'Proxy-Info', 'Grouped'),
  ietf(285, 'Re-Auth-Request-Type', 'Enumerated'),
  ietf(291, 'Authorization-Lifetime', 'Unsigned32'),
  ietf(292, 'Redirect-Host', 'DiameterURI'),
  ietf(293, 'Destination-Host', 'DiameterIdentity'),
  ietf(294, 'Error-Reporting-Host', 'DiameterIdentity', false),
  ietf(295, 'Termination-Cause', 'Enumerated'),
  ietf(296, 'Origin-Realm', 'DiameterIdentity'),
  ietf(297, 'Experimental-Result', 'Grouped'),
  ietf(298, 'Experimental-Result-Code', 'Unsigned32'),
  ietf(299, 'Inband-Security-Id', 'Unsigned32'),
  ietf(104, 'Digest-Realm', 'UTF8String', false),
  ietf(110, 'Digest-QoP', 'UTF8String', false),
  ietf(111, 'Digest-Algorithm', 'UTF8String', false),
  ietf(121, 'Digest-HA1', 'UTF8String', false),
];

/** 3GPP TS 29.229 Cx AVPs (vendor 10415). */
export const CX_AVPS: readonly AvpDef[] = [
  tgpp(600, 'Visited-Network-Identifier', 'OctetString'),
  tgpp(601, 'Public-Identity', 'UTF8String'),
  tgpp(602, 'Server-Name', 'UTF8String'),
  tgpp(603, 'Server-Capabilities', 'Grouped'),
  tgpp(604, 'Mandatory-Capability', 'Unsigned32'),
  tgpp(605, 'Optional-Capability', 'Unsigned32'),
  tgpp(606, 'User-Data', 'OctetString'),
  tgpp(607, 'SIP-Number-Auth-Items', 'Unsigned32'),
  tgpp(608, 'SIP-Authentication-Scheme', 'UTF8String'),
  tgpp(609, 'SIP-Authenticate', 'OctetString'),
  tgpp(610, 'SIP-Authorization', 'OctetString'),
  tgpp(611, 'SIP-Authentication-Context', 'OctetString'),
  tgpp(612, 'SIP-Auth-Data-Item', 'Grouped'),
  tgpp(613, 'SIP-Item-Number', 'Unsigned32'),
  tgpp(614, 'Server-Assignment-Type', 'Enumerated'),
  tgpp(615, 'Deregistration-Reason', 'Grouped'),
  tgpp(616, 'Reason-Code', 'Enumerated'),
  tgpp(617, 'Reason-Info', 'UTF8String'),
  tgpp(618, 'Charging-Information', 'Grouped'),
  tgpp(623, 'User-Authorization-Type', 'Enumerated'),
  tgpp(624, 'User-Data-Already-Available', 'Enumerated'),
  tgpp(625, 'Confidentiality-Key', 'OctetString'),
  tgpp(626, 'Integrity-Key', 'OctetString'),
  tgpp(628, 'Supported-Features', 'Grouped', false),
  tgpp(629, 'Feature-List-ID', 'Unsigned32', false),
  tgpp(630, 'Feature-List', 'Unsigned32', false),
  tgpp(635, 'SIP-Digest-Authenticate', 'Grouped', false),
];

/** keyswitch AVPs under the documentation enterprise number 32473 (docs/diameter.md). */
export const KS_AVPS: readonly AvpDef[] = [
  ks(1, 'KS-E-Kc', 'OctetString'),
  ks(2, 'KS-E-Ksp', 'OctetString'),
  ks(3, 'KS-Rand-Expires', 'Unsigned64'),
  ks(4, 'KS-Proxy-Identity', 'UTF8String'),
  ks(5, 'KS-Terminal-IP', 'UTF8String'),
  ks(6, 'KS-Protocol', 'UTF8String'),
  ks(7, 'KS-Contact', 'UTF8String'),
  ks(8, 'KS-Mechanism', 'UTF8String'),
  ks(9, 'KS-Retry-After', 'Unsigned32'),
  ks(10, 'KS-Registration-Expires', 'Unsigned64'),
  ks(11, 'KS-Reject-Reason', 'Enumerated'),
  ks(12, 'KS-Locked', 'Enumerated'),
  ks(13, 'KS-Rand', 'OctetString'),
  ks(14, 'KS-Failures-Pending', 'Enumerated'),
];

export const BASE_COMMANDS: readonly CommandDef[] = [
  { name: 'Capabilities-Exchange', code: 257, applicationId: APP_BASE, request: 'CER', answer: 'CEA' },
  { name: 'Device-Watchdog', code: 280, applicationId: APP_BASE, request: 'DWR', answer: 'DWA' },
  { name: 'Disconnect-Peer', code: 282, applicationId: APP_BASE, request: 'DPR', answer: 'DPA' },
];

export const CX_COMMANDS: readonly CommandDef[] = [
  { name: 'User-Authorization', code: 300, applicationId: APP_CX, request: 'UAR', answer: 'UAA' },
  { name: 'Server-Assignment', code: 301, applicationId: APP_CX, request: 'SAR', answer: 'SAA' },
  { name: 'Location-Info', code: 302, applicationId: APP_CX, request: 'LIR', answer: 'LIA' },
  { name: 'Multimedia-Auth', code: 303, applicationId: APP_CX, request: 'MAR', answer: 'MAA' },
];

/** KS-Reject-Reason values. */
export const KS_REJECT_REASON = {
  'unknown-terminal': 1,
  'unknown-proxy': 2,
  disabled: 3,
  locked: 4,
  'no-sip-password': 5,
} as const;

export const defaultDictionary = new Dictionary([...BASE_AVPS, ...CX_AVPS, ...KS_AVPS], [...BASE_COMMANDS, ...CX_COMMANDS]);

/** Smallest valid value length of a type; a zero value of it stands for a missing AVP in Failed-AVP. */
export function minimumLength(type: AvpType): number {
  switch (type) {
    case 'Unsigned32':
    case 'Integer32':
    case 'Enumerated':
    case 'Float32':
    case 'Time':
      return 4;
    case 'Unsigned64':
    case 'Integer64':
    case 'Float64':
      return 8;
    case 'Address':
      return 6;
    default:
      return 0;
  }
}
