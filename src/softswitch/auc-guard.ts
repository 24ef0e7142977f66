import { AucUnavailableError, type AucService } from '../contracts/auc.js';

/**
 * Bounds every AuC call: an answer that does not come within `timeoutMs`
 * becomes AucUnavailableError, so a REGISTER gets its 503 in bounded time
 * whatever the client underneath does. The late answer is ignored.
 *
 * `maxInFlight` bounds the queue toward the AuC (overload control, docs/sbc.md
 * "Overload"): with that many calls unanswered, the next one fails at once
 * with AucUnavailableError, so the REGISTER is answered 503 with Retry-After
 * now instead of waiting behind the others and timing out (0: no bound).
 * `onShed` counts those.
 */
export function boundedAuc(auc: AucService, timeoutMs: number, maxInFlight = 0, onShed?: () => void): AucService {
  let inFlight = 0;
  function bound<A, R>(call: (a: A) => Promise<R>): (a: A) => Promise<R> {
    return (a) =>
      new Promise<R>((resolve, reject) => {
        if (maxInFlight > 0 && inFlight >= maxInFlight) {
          onShed?.();
          reject(new AucUnavailableError(`${inFlight} requests to the AuC in flight already`));
          return;
        }
        inFlight++;
        let settled = false;
        const settle = () => {
          if (settled) return false;
          settled = true;
          inFlight--;
          clearTimeout(timer);
          return true;
        };
        const timer = setTimeout(() => settle() && reject(new AucUnavailableError(`no AuC answer within ${timeoutMs} ms`)), timeoutMs);
        let p: Promise<R>;
        try {
          p = call(a);
        } catch (err) {
          settle();
          reject(err);
          return;
        }
        p.then(
          (v) => {
            if (settle()) resolve(v);
          },
          (err) => {
            if (settle()) reject(err);
          },
        );
      });
  }
  return {
    vector: bound((r) => auc.vector(r)),
    digest: bound((r) => auc.digest(r)),
    registered: bound((r) => auc.registered(r)),
    deregistered: bound((r) => auc.deregistered(r)),
    failed: bound((r) => auc.failed(r)),
  };
}
