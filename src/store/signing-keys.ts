import type { Knex } from 'knex';
import type { KeyVault } from '../crypto/vault.js';
import { num } from './rows.js';

/** One SBC header-signing key as the rings use it (docs/header-signing.md). */
export interface SigningKeyRecord {
  id: string;
  purpose: string;
  key: Buffer;
  createdAt: number; // Unix ms
  expiresAt: number; // Unix ms
}

/** What a key ring needs from storage; the database repo and an in-memory one implement it. */
export interface SigningKeyStore {
  /** Keys of a purpose still valid at `now`, newest first. */
  live(purpose: string, now: number): Promise<SigningKeyRecord[]>;
  add(rec: SigningKeyRecord): Promise<void>;
  /** Deletes keys expired at `now`; returns how many. */
  purge(now: number): Promise<number>;
}

/** Signing keys in the database, the key bytes sealed under the master key. */
export class SigningKeyRepo implements SigningKeyStore {
  constructor(private readonly knex: Knex, private readonly vault: KeyVault) {}

  #binding(purpose: string, id: string): string {
    return `signing-key|${purpose}|${id}`;
  }

  async live(purpose: string, now: number): Promise<SigningKeyRecord[]> {
    const rows: Record<string, unknown>[] = await this.knex('sbc_signing_keys')
      .where({ purpose })
      .andWhere('expires_at', '>', now)
      .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'asc' }]);
    return rows.map((r) => ({
      id: String(r.id),
      purpose: String(r.purpose),
      key: this.vault.open(String(r.key_enc), this.#binding(String(r.purpose), String(r.id))),
      createdAt: num(r.created_at),
      expiresAt: num(r.expires_at),
    }));
  }

  async add(rec: SigningKeyRecord): Promise<void> {
    await this.knex('sbc_signing_keys').insert({
      id: rec.id,
      purpose: rec.purpose,
      key_enc: this.vault.seal(rec.key, this.#binding(rec.purpose, rec.id)),
      mk_version: this.vault.version,
      created_at: rec.createdAt,
      expires_at: rec.expiresAt,
    });
  }

  async purge(now: number): Promise<number> {
    return this.knex('sbc_signing_keys').where('expires_at', '<=', now).delete();
  }
}

/** The same contract in memory: for a store-less SBC, tests and benchmarks. */
export class MemorySigningKeyStore implements SigningKeyStore {
  readonly #rows = new Map<string, SigningKeyRecord>();

  async live(purpose: string, now: number): Promise<SigningKeyRecord[]> {
    return [...this.#rows.values()]
      .filter((r) => r.purpose === purpose && r.expiresAt > now)
      .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1))
      .map((r) => ({ ...r, key: Buffer.from(r.key) }));
  }

  async add(rec: SigningKeyRecord): Promise<void> {
    if (this.#rows.has(rec.id)) throw new Error('duplicate signing key id');
    this.#rows.set(rec.id, { ...rec, key: Buffer.from(rec.key) });
  }

  async purge(now: number): Promise<number> {
    let n = 0;
    for (const [id, r] of this.#rows) if (r.expiresAt <= now) {
      this.#rows.delete(id);
      n++;
    }
    return n;
  }
}
