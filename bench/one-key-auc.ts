/**
 * An in-memory AuC for in-process benches: every terminal shares one Kc and
 * the SBC one Ksp, so a vector costs only the KS1 crypto, no store.
 */
import { randomBytes } from 'node:crypto';
import type { AucService, FailureOutcome, VectorRequest, VectorResult } from '../src/contracts/auc.js';
import { makeVector } from '../src/crypto/ks1.js';

export function oneKeyAuc(): { auc: AucService; kc: Buffer; ksp: Buffer } {
  const kc = randomBytes(32);
  const ksp = randomBytes(32);
  const auc: AucService = {
    async vector(req: VectorRequest): Promise<VectorResult> {
      const v = makeVector({ kc, ksp, idc: req.idc, idsp: req.idsp, rand: randomBytes(16), sessionKey: randomBytes(32) });
      return { ok: true, vector: { ...v, expiresAt: Date.now() + 30_000 } };
    },
    digest: async () => ({ ok: false, reason: 'no-sip-password' }),
    registered: async () => {},
    deregistered: async () => {},
    failed: async (): Promise<FailureOutcome> => ({ locked: false }),
  };
  return { auc, kc, ksp };
}
