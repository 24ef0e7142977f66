/**
 * The licence server's contract (docs/voicemail.md, "Licence server"): what
 * the media server deposits once a message's package is stored, and what a
 * player asks for to play it. The licence server runs in the AuC process and
 * shares its store; the media server may run in another process or host, so
 * everything here crosses HTTPS (src/contracts/licence-client.ts).
 *
 * Transport: the AuC's licence listener (`auc.licence.host`/`port`, HTTPS
 * with the certificate `licence-cert.pem` of the data directory, or the
 * configured one). The media server authenticates with a service key,
 * `Authorization: Bearer <64 hex>`: `auc.licence.mediaKey`, or
 * `media-link.key` in the data directory, generated on first start (roles on
 * one data directory share it; hosts apart are given the same value). It
 * pins the licence server's certificate (the PEM file), so the key is only
 * ever sent to that server. Players authenticate as a subscriber:
 * `Authorization: Basic <idc:password>` where the password is the
 * subscriber's voicemail password, or its SIP password when it has none.
 */

/** The DRM type named in SDP (`a=drm:ksdrm <address> <port> HTTP/TLS`). */
export const DRM_TYPE = 'ksdrm';

/** Message and key ids: 128 random bits as 32 lower-case hex digits (src/contracts/voicemail-package.ts makes them). */
export const ID_PATTERN = /^[0-9a-f]{32}$/;

/** The service key's file in the data directory (64 hex digits). */
export const MEDIA_LINK_KEY_FILE = 'media-link.key';
/** The licence server's generated certificate and key in the data directory. */
export const LICENCE_CERT_FILE = 'licence-cert.pem';
export const LICENCE_KEY_FILE = 'licence-key.pem';

/** Paths on the licence listener. */
export const LICENCE_PATHS = {
  /** POST, media server (Bearer service key): Deposit → 201 DepositAnswer; the same deposit again → 200; a different one with that id → 409. */
  deposit: '/v1/voicemail/messages',
  /** POST, player (Basic): → 200 Licence, counting one play; refusals: 401, 403 LicenceRefusal. */
  licence: (messageId: string) => `/v1/voicemail/messages/${messageId}/licence`,
  /** GET, player (Basic) holding a grant: → 200 the package bytes (application/octet-stream). */
  package: (messageId: string) => `/v1/voicemail/messages/${messageId}/package`,
} as const;

/** Largest play count a grant may carry. */
export const MAX_PLAYS = 1000;
/** Longest expiry a deposit may set, in days. */
export const MAX_EXPIRES_DAYS = 3650;

/**
 * The rights the caller chose at deposit (the package header carries the
 * same first three for display; the licence server is what enforces them).
 */
export interface DepositRights {
  /** Plays allowed to the recipient; 0: no limit. */
  maxPlays: number;
  /** Days after recording the message expires; 0: never. */
  expiresDays: number;
  /** May the recipient forward (delegate) it. */
  mayForward: boolean;
  /** May the recipient change it (trim, re-package); nothing offers that yet, but a delegation cannot grant it unless held. */
  mayModify: boolean;
}

export interface Deposit {
  messageId: string;
  keyId: string;
  /** The content key, 32 bytes, unpadded base64url. Never logged, sealed under the master key at rest. */
  contentKey: string;
  /** The called party, owner of the mailbox (IDc, e.g. bob@lab.example). */
  owner: string;
  /** The caller's authenticated identity (IDc) when the call came from a subscriber; '' for an outside caller. */
  sender: string;
  /** The caller as the From header gave it, for display. */
  senderDisplay: string;
  /** When recording ended, Unix ms. */
  recordedAt: number;
  durationMs: number;
  codec: 'PCMU' | 'PCMA';
  rights: DepositRights;
  /**
   * The protected package (src/contracts/voicemail-package.ts), standard base64. The
   * licence server checks that the content key opens it and that its header
   * names this message, key and owner, then keeps its own copy so that the
   * web page can serve it without sharing the media server's disk.
   */
  package: string;
}

export interface DepositAnswer {
  messageId: string;
  /** false when the same deposit had been made before (a retry). */
  created: boolean;
}

/** What a grant still allows. */
export interface RightsLeft {
  /** Plays left; null: no limit. */
  playsLeft: number | null;
  /** Unix ms after which no licence is given; null: never. */
  expiresAt: number | null;
  mayForward: boolean;
  mayModify: boolean;
}

/** A licence: one play of one message. */
export interface Licence {
  messageId: string;
  keyId: string;
  alg: 'A256GCM';
  /** The content key, unpadded base64url. */
  contentKey: string;
  /** The holder's rights after this play was counted. */
  rights: RightsLeft;
}

/** Why a licence or a delegation was refused. The same `no-licence` for an unknown message and one the caller holds no grant on. */
export type RefusalCode = 'unauthenticated' | 'no-licence' | 'spent' | 'expired' | 'revoked' | 'exceeds-grant' | 'not-forwardable' | 'invalid';

export interface LicenceRefusal {
  statusCode: number;
  code: RefusalCode;
  message: string;
}

/** A delegation: the holder gives `to` rights no greater than its own. */
export interface Delegation {
  to: string;
  /** Plays for the delegate; 0 is refused (use revocation); must not exceed the grantor's plays left. */
  plays: number;
  /** Unix ms; null: the grantor's expiry (a grantor with none may give none). */
  expiresAt: number | null;
  mayForward: boolean;
  mayModify: boolean;
}

/** Checks a deposit's shape; returns the reason it is not one, or undefined. */
export function depositProblem(d: unknown): string | undefined {
  if (typeof d !== 'object' || d === null) return 'not an object';
  const o = d as Record<string, unknown>;
  for (const f of ['messageId', 'keyId'] as const) if (typeof o[f] !== 'string' || !ID_PATTERN.test(o[f] as string)) return `${f} must be 32 lower-case hex digits`;
  if (typeof o.contentKey !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(o.contentKey)) return 'contentKey must be 32 bytes in unpadded base64url';
  if (typeof o.owner !== 'string' || !o.owner || o.owner.length > 255) return 'owner must be an identity';
  if (typeof o.sender !== 'string' || o.sender.length > 255) return 'sender must be an identity or empty';
  if (typeof o.senderDisplay !== 'string' || o.senderDisplay.length > 512) return 'senderDisplay must be text of at most 512 characters';
  if (!Number.isSafeInteger(o.recordedAt) || (o.recordedAt as number) < 0) return 'recordedAt must be Unix ms';
  if (!Number.isSafeInteger(o.durationMs) || (o.durationMs as number) < 0) return 'durationMs must be a whole number';
  if (o.codec !== 'PCMU' && o.codec !== 'PCMA') return 'codec must be PCMU or PCMA';
  const r = o.rights as Record<string, unknown> | null;
  if (typeof r !== 'object' || r === null) return 'rights missing';
  if (!Number.isSafeInteger(r.maxPlays) || (r.maxPlays as number) < 0 || (r.maxPlays as number) > MAX_PLAYS) return `rights.maxPlays must be 0..${MAX_PLAYS}`;
  if (!Number.isSafeInteger(r.expiresDays) || (r.expiresDays as number) < 0 || (r.expiresDays as number) > MAX_EXPIRES_DAYS) return `rights.expiresDays must be 0..${MAX_EXPIRES_DAYS}`;
  if (typeof r.mayForward !== 'boolean' || typeof r.mayModify !== 'boolean') return 'rights.mayForward and rights.mayModify must be booleans';
  if (typeof o.package !== 'string' || !o.package) return 'package must be base64';
  return undefined;
}
