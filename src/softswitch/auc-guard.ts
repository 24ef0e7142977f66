import { AucUnavailableError, type AucService } from '../contracts/auc.js';

/**
 * Bounds every AuC call: an answer that does not come within `timeoutMs`
 * becomes AucUnavailableError, so a REGISTER gets its 503 in bounded time
 * whatever the client underneath does. The late answer is ignored.
 */
export function boundedAuc(auc: AucService, timeoutMs: number): AucService {
  function bound<A, R>(call: (a: A) => Promise<R>): (a: A) => Promise<R> {
    return (a) =>
      new Promise<R>((resolve, reject) => {
        const timer = setTimeout(() => reject(new AucUnavailableError(`no AuC answer within ${timeoutMs} ms`)), timeoutMs);
        let p: Promise<R>;
        try {
          p = call(a);
        } catch (err) {
          clearTimeout(timer);
          reject(err);
          return;
        }
        p.then(
          (v) => {
            clearTimeout(timer);
            resolve(v);
          },
          (err) => {
            clearTimeout(timer);
            reject(err);
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
