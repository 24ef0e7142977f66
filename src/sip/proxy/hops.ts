/**
 * Max-Forwards (RFC 3261 §16.3 step 3, §16.6 step 3) and loop detection (§16.3 step 4,
 * §16.6 step 8): the one place a hop is counted and a loop told from a spiral.
 */
import { createHash } from 'node:crypto';
import type { SipRequest } from '../message.js';
import type { OwnAddresses } from './own-addresses.js';
import { toTag, fromTag } from './dialog.js';

/** RFC 3261 §16.6 step 3: a copy without Max-Forwards gets this. */
export const DEFAULT_MAX_FORWARDS = 70;

/**
 * Counts this hop on the copy to forward: false when the request may go no further
 * (Max-Forwards 0: 483, or an ACK dropped); otherwise Max-Forwards is decremented, or set.
 */
export function takeHop(fwd: SipRequest): boolean {
  const mf = fwd.maxForwards();
  if (mf === 0) return false;
  fwd.set('Max-Forwards', String(mf === undefined ? DEFAULT_MAX_FORWARDS : mf - 1));
  return true;
}

/** The Via parameter carrying the loop key. */
export const LOOP_PARAM = 'ks-loop';

/**
 * The key of §16.6 step 8: a hash of the fields a spiral changes and a loop does not. Carried
 * in our Via; a request that arrives with one of our Vias carrying its own key has looped.
 */
export function loopKey(req: SipRequest): string {
  return createHash('sha256')
    .update(req.uri + '\n' + req.callId() + '\n' + req.cseq().seq + '\n' + fromTag(req) + '\n' + (toTag(req) ?? '') + '\n' + (req.list('route')[0] ?? '') + '\n' + (req.get('Proxy-Require') ?? ''))
    .digest()
    .subarray(0, 9)
    .toString('base64url');
}

/** A Via below the top (the sender's) that is ours and carries this request's key: a loop (482). */
export function looped(req: SipRequest, own: OwnAddresses, key: string): boolean {
  const vias = req.vias();
  for (let i = 1; i < vias.length; i++) {
    const v = vias[i]!;
    if (v.params[LOOP_PARAM] === key && own.via(v)) return true;
  }
  return false;
}
