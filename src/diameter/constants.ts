/** Numbers fixed by RFC 6733 and 3GPP TS 29.229 that the codec and peers share. */

export const DIAMETER_VERSION = 1;
export const HEADER_LENGTH = 20;
export const AVP_HEADER_LENGTH = 8;
export const AVP_VENDOR_HEADER_LENGTH = 12;

// Header command flags.
export const FLAG_REQUEST = 0x80;
export const FLAG_PROXIABLE = 0x40;
export const FLAG_ERROR = 0x20;
export const FLAG_RETRANSMIT = 0x10;

// AVP flags.
export const AVP_FLAG_VENDOR = 0x80;
export const AVP_FLAG_MANDATORY = 0x40;
export const AVP_FLAG_PROTECTED = 0x20;

export const VENDOR_IETF = 0;
export const VENDOR_3GPP = 10415;
/** The documentation enterprise number (RFC 5612): our own AVPs live under it. */
export const VENDOR_KEYSWITCH = 32473;

export const APP_BASE = 0;
export const APP_CX = 16777216;
export const APP_RELAY = 0xffffffff;

export const CMD_CAPABILITIES_EXCHANGE = 257;
export const CMD_DEVICE_WATCHDOG = 280;
export const CMD_DISCONNECT_PEER = 282;
export const CMD_SERVER_ASSIGNMENT = 301;
export const CMD_MULTIMEDIA_AUTH = 303;

export const RESULT = {
  SUCCESS: 2001,
  COMMAND_UNSUPPORTED: 3001,
  UNABLE_TO_DELIVER: 3002,
  REALM_NOT_SERVED: 3003,
  TOO_BUSY: 3004,
  APPLICATION_UNSUPPORTED: 3007,
  INVALID_HDR_BITS: 3008,
  INVALID_AVP_BITS: 3009,
  UNKNOWN_PEER: 3010,
  AVP_UNSUPPORTED: 5001,
  AUTHORIZATION_REJECTED: 5003,
  INVALID_AVP_VALUE: 5004,
  MISSING_AVP: 5005,
  NO_COMMON_APPLICATION: 5010,
  UNSUPPORTED_VERSION: 5011,
  UNABLE_TO_COMPLY: 5012,
  INVALID_AVP_LENGTH: 5014,
  INVALID_MESSAGE_LENGTH: 5015,
} as const;

/** Experimental-Result-Code values of TS 29.229 (vendor 10415). */
export const CX_RESULT = {
  FIRST_REGISTRATION: 2001,
  SUBSEQUENT_REGISTRATION: 2002,
  ERROR_USER_UNKNOWN: 5001,
  ERROR_IDENTITIES_DONT_MATCH: 5002,
  ERROR_IDENTITY_NOT_REGISTERED: 5003,
  ERROR_AUTH_SCHEME_NOT_SUPPORTED: 5006,
} as const;

/** True for results that say "this peer could not serve it; another might" (RFC 6733 §7.1.3). */
export function isProtocolError(resultCode: number): boolean {
  return resultCode >= 3000 && resultCode < 4000;
}

export const DISCONNECT_CAUSE = { REBOOTING: 0, BUSY: 1, DO_NOT_WANT_TO_TALK_TO_YOU: 2 } as const;
export const AUTH_SESSION_STATE = { STATE_MAINTAINED: 0, NO_STATE_MAINTAINED: 1 } as const;

export const SERVER_ASSIGNMENT_TYPE = {
  NO_ASSIGNMENT: 0,
  REGISTRATION: 1,
  RE_REGISTRATION: 2,
  UNREGISTERED_USER: 3,
  TIMEOUT_DEREGISTRATION: 4,
  USER_DEREGISTRATION: 5,
  TIMEOUT_DEREGISTRATION_STORE_SERVER_NAME: 6,
  USER_DEREGISTRATION_STORE_SERVER_NAME: 7,
  ADMINISTRATIVE_DEREGISTRATION: 8,
  AUTHENTICATION_FAILURE: 9,
  AUTHENTICATION_TIMEOUT: 10,
} as const;
