import type { KeyObject } from 'node:crypto';
import { deriveWrapKey, prepareWrapKey } from '../crypto/ks1.js';
import type { PrincipalRepo, Status } from '../store/principals.js';

/** More SBCs than this and the memo starts again: a lab has a handful, and no SBC can add entries (an IDsp must be provisioned). */
const MAX_KEPT = 1024;

/**
 * K_wrap of each active SBC's Ksp, made once into the KeyObject that seals its
 * E_Ksp, and kept for as long as the Ksp's sealed value read with every vector
 * is the same: a rotation or a re-seal under a new master key gives a new
 * value, and the key is made again from it. The status is read with every
 * vector too, so a disabled SBC is refused at once. Before, every vector
 * opened Ksp from the vault and derived K_wrap again (docs/auc.md, "The SBC's
 * wrap key").
 */
export class ProxyWrapKeys {
  readonly #kept = new Map<string, { sealed: string; kWrap: KeyObject }>();

  constructor(private readonly proxies: Pick<PrincipalRepo, 'sealedKey' | 'openSealed'>) {}

  async get(idsp: string): Promise<{ status: Status; kWrap?: KeyObject } | undefined> {
    const row = await this.proxies.sealedKey(idsp);
    if (!row || row.status !== 'active') {
      this.#kept.delete(idsp);
      return row && { status: row.status };
    }
    let kept = this.#kept.get(idsp);
    if (kept?.sealed !== row.sealed) {
      const ksp = this.proxies.openSealed(idsp, row.sealed);
      const kWrap = deriveWrapKey(ksp);
      ksp.fill(0);
      kept = { sealed: row.sealed, kWrap: prepareWrapKey(kWrap) };
      kWrap.fill(0);
      if (this.#kept.size >= MAX_KEPT) this.#kept.clear();
      this.#kept.set(idsp, kept);
    }
    return { status: row.status, kWrap: kept.kWrap };
  }
}
