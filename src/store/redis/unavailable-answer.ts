/**
 * The proxy core's `onError` policy of a role whose state is shared in Redis (docs/scale-out.md):
 * a request whose handling could not reach Redis (a session, a binding, a nonce-count, a contact)
 * is answered 503 with Retry-After, not 500: nothing was accepted on state nobody could check,
 * and it may be retried. The SBC and the softswitch give this one function as their hook.
 */
import type { ErrorAnswer } from '../../sip/proxy/hooks.js';
import { isRedisUnavailable } from './client.js';

export function redisUnavailableAnswer(err: unknown): ErrorAnswer | undefined {
  return isRedisUnavailable(err) ? { status: 503, retryAfter: err.retryAfterSeconds } : undefined;
}
