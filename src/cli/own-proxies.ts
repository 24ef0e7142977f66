import { timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/load.js';
import type { Logger } from '../log/logger.js';
import { sbcKey } from '../sbc/role.js';
import { softswitchIdentity } from '../softswitch/role.js';
import type { Store } from '../store/index.js';
import { UsageError } from './context.js';

/**
 * `keyswitch up` provisions the identities of its own SBC and softswitch at
 * its AuC on first start, so that the system works with no setup.
 */
export async function provisionOwnProxies(store: Store, cfg: Config, logger: Logger): Promise<void> {
  const own: { id: string; key: Buffer }[] = [{ id: cfg.sbc.idsp, key: sbcKey(cfg) }];
  const sw = softswitchIdentity(cfg);
  if (sw) own.push(sw);
  for (const p of own) {
    const existing = await store.proxies.key(p.id);
    if (!existing) {
      await store.proxies.create(p.id, p.key);
      await store.audit.add('keyswitch-up', 'proxy.create', p.id, { source: 'first start' });
      logger.info({ idsp: p.id }, 'provisioned own proxy identity at the AuC');
    } else if (!timingSafeEqual(existing.key, p.key)) {
      throw new UsageError(`proxy ${p.id} is provisioned at the AuC with another key than this node's; rotate it or configure the matching key`);
    }
  }
}
