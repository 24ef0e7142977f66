/**
 * JSON shapes of the operator routes (docs/operations.md lists them with
 * examples; the web console reads them: keep them stable, add fields only).
 */
import { IDENTITY_MAX } from '../validate.js';
import { paging } from './schemas.js';

const time = { type: 'string', format: 'date-time' } as const;

export const page = (item: object) =>
  ({
    type: 'object',
    properties: { items: { type: 'array', items: item }, total: { type: 'integer' }, offset: { type: 'integer' }, limit: { type: 'integer' } },
  }) as const;

export const registration = {
  type: 'object',
  properties: {
    idc: { type: 'string' },
    protocol: { type: 'string', description: 'sip, mgcp or h248' },
    idsp: { type: 'string', description: 'The SBC it came through (IDsp)' },
    contact: { type: 'string' },
    mechanism: { type: 'string', description: 'tls-psk, app-hmac, tls; digest for SIP Digest' },
    source: { type: 'string', description: "The terminal's address as the SBC saw it (IPc)" },
    registeredAt: time,
    updatedAt: time,
    expiresAt: time,
    expiresInSeconds: { type: 'integer' },
  },
} as const;

export const registrationQuery = {
  type: 'object',
  properties: {
    offset: paging.properties.offset,
    limit: paging.properties.limit,
    idc: { type: 'string', maxLength: IDENTITY_MAX },
    prefix: { type: 'string', maxLength: IDENTITY_MAX },
    protocol: { type: 'string', enum: ['sip', 'mgcp', 'h248', 'h323'] },
    idsp: { type: 'string', maxLength: IDENTITY_MAX },
    mechanism: { type: 'string', maxLength: 32 },
    source: { type: 'string', maxLength: 64 },
  },
  additionalProperties: false,
} as const;

export const deregisterQuery = {
  type: 'object',
  properties: { protocol: registrationQuery.properties.protocol, contact: { type: 'string', minLength: 1, maxLength: 1024 } },
  additionalProperties: false,
} as const;

export const deregistered = {
  type: 'object',
  properties: {
    idc: { type: 'string' },
    registrations: { type: 'integer', description: 'Registration rows removed at the AuC' },
    bindings: { type: 'integer', description: 'SIP bindings removed from the location store' },
    sbcSession: { type: 'string', enum: ['dropped', 'requested', 'kept'], description: 'dropped by the SBC in this process; requested of SBCs run apart; kept while other registrations remain' },
  },
} as const;

export const failure = {
  type: 'object',
  properties: {
    idc: { type: 'string' },
    failures: { type: 'integer', description: 'Failures counted in the current window' },
    windowStart: time,
    lockouts: { type: 'integer' },
    locked: { type: 'boolean' },
    lockedUntil: { anyOf: [time, { type: 'null' }] },
    retryAfterSeconds: { type: 'integer' },
    lastFailureAt: time,
  },
} as const;

export const failureQuery = {
  type: 'object',
  properties: {
    offset: paging.properties.offset,
    limit: paging.properties.limit,
    prefix: { type: 'string', maxLength: IDENTITY_MAX },
    locked: { type: 'boolean', description: 'true: only identities locked now' },
  },
  additionalProperties: false,
} as const;

export const block = {
  type: 'object',
  properties: {
    source: { type: 'string' },
    idsp: { type: 'string', description: 'The SBC that blocked it' },
    reason: { type: 'string', description: 'signature-failures' },
    failures: { type: 'integer' },
    windowMs: { type: 'integer' },
    blockedAt: time,
    expiresAt: time,
    expiresInSeconds: { type: 'integer' },
  },
} as const;

export const unblocked = {
  type: 'object',
  properties: {
    source: { type: 'string' },
    lifted: { type: 'boolean', description: 'A block of this source was known and is lifted' },
    idsps: { type: 'array', items: { type: 'string' } },
  },
} as const;

export const sourceFailure = {
  type: 'object',
  properties: {
    source: { type: 'string' },
    idsp: { type: 'string' },
    total: { type: 'integer' },
    byKind: { type: 'object', additionalProperties: { type: 'integer' }, description: 'signature, app-hmac, replay, forbidden, bad-request, wrong-response, transport-binding' },
    first: time,
    last: time,
    blocked: { type: 'boolean' },
  },
} as const;

export const auditEntry = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    at: { type: 'integer', description: 'Unix ms' },
    time,
    actor: { type: 'string' },
    action: { type: 'string' },
    target: { type: 'string' },
    detail: { type: 'object', additionalProperties: true },
  },
} as const;

export const auditQuery = {
  type: 'object',
  properties: {
    offset: paging.properties.offset,
    limit: paging.properties.limit,
    target: { type: 'string', maxLength: 512, description: 'exactly this target' },
    actor: { type: 'string', maxLength: 255, description: 'actors starting with this' },
    action: { type: 'string', maxLength: 64, description: 'actions starting with this' },
    since: { type: 'string', maxLength: 40, description: 'ISO 8601 time: entries at or after it' },
    until: { type: 'string', maxLength: 40, description: 'ISO 8601 time: entries before it' },
  },
  additionalProperties: false,
} as const;
