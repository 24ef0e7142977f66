import { IDENTITY_MAX, IDENTITY_PATTERN, KEY_HEX_PATTERN, SIP_PASSWORD_MAX } from '../validate.js';

export const identity = { type: 'string', minLength: 1, maxLength: IDENTITY_MAX, pattern: IDENTITY_PATTERN } as const;
export const keyHex = { type: 'string', pattern: KEY_HEX_PATTERN, description: '32-byte key as 64 hex digits' } as const;
export const sipPassword = { type: 'string', minLength: 1, maxLength: SIP_PASSWORD_MAX } as const;

export const principal = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    status: { type: 'string', enum: ['active', 'disabled', 'locked'], description: "'locked': a terminal locked out by authentication failures until lockedUntil (POST …/unlock lifts it)" },
    keyGeneration: { type: 'integer' },
    hasSipPassword: { type: 'boolean' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    failures: { type: 'integer', description: 'Terminals: authentication failures counted in the current window.' },
    lockedUntil: { type: 'string', format: 'date-time', description: 'Terminals, while locked.' },
    key: { type: 'string', description: 'Only when the server generated the key, in this one answer.' },
  },
  required: ['id', 'status', 'keyGeneration', 'createdAt', 'updatedAt'],
} as const;

export const error = {
  type: 'object',
  properties: {
    statusCode: { type: 'integer' },
    error: { type: 'string' },
    code: { type: 'string', description: 'Stable reason, e.g. invalid-querystring, invalid-identity, exists, not-found' },
    message: { type: 'string' },
  },
} as const;

export const paging = {
  type: 'object',
  properties: {
    // the text is checked before coercion too (server.ts): ajv lets Infinity through both keywords
    offset: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    prefix: { type: 'string', maxLength: IDENTITY_MAX },
  },
  additionalProperties: false,
} as const;
