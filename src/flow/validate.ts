import { AUTH_LEN, MAC_LEN, NONCE_LEN, RAND_LEN, WRAPPED_LEN } from '../crypto/ks1.js';
import type { MechanismList } from './messages.js';

/**
 * Shape checks shared by the state machines. Codecs already turn text into
 * typed values; these catch what a codec cannot know (lengths, identities
 * the MAC can carry) and make the flows safe to call with anything.
 * Each returns the name of the first bad field, or undefined.
 */

const MAX_ID = 256;
const BAD_ID = /[\r\n\0]/;

export const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_ID && !BAD_ID.test(v);
export const isBytes = (v: unknown, len: number): v is Buffer => Buffer.isBuffer(v) && v.length === len;
export const isTs = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export const isNonce = (v: unknown): v is Buffer => isBytes(v, NONCE_LEN);
export const isRand = (v: unknown): v is Buffer => isBytes(v, RAND_LEN);
export const isAuthenticator = (v: unknown): v is Buffer => isBytes(v, AUTH_LEN);
export const isMac = (v: unknown): v is Buffer => isBytes(v, MAC_LEN);
export const isWrapped = (v: unknown): v is Buffer => isBytes(v, WRAPPED_LEN);

export function isMechanismList(v: unknown): v is MechanismList {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as MechanismList;
  return typeof m.text === 'string' && Array.isArray(m.items) && m.items.every((i) => typeof i?.name === 'string' && typeof i.q === 'number');
}

