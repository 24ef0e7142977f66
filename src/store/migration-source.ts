import type { Knex } from 'knex';
import * as m001 from '../../migrations/001_initial.js';
import * as m002 from '../../migrations/002_location.js';
import * as m003 from '../../migrations/003_signing_keys.js';
import * as m004 from '../../migrations/004_challenge_requester.js';
import * as m005 from '../../migrations/005_master_keys.js';
import * as m006 from '../../migrations/006_operations.js';
import * as m007 from '../../migrations/007_voicemail.js';
import * as m008 from '../../migrations/008_wider_blocks.js';
import * as m009 from '../../migrations/009_registrar_file.js';

// A static map: the knex CLI cannot discover .ts migrations under ESM, and a
// map works the same under tsx, vitest and compiled output (measured here: the knex CLI does not load .ts migrations under ESM).
const migrations: Record<string, Knex.Migration> = {
  '001_initial': m001,
  '002_location': m002,
  '003_signing_keys': m003,
  '004_challenge_requester': m004,
  '005_master_keys': m005,
  '006_operations': m006,
  '007_voicemail': m007,
  '008_wider_blocks': m008,
  '009_registrar_file': m009,
};

export const migrationSource: Knex.MigrationSource<string> = {
  async getMigrations() {
    return Object.keys(migrations).sort();
  },
  getMigrationName(name) {
    return name;
  },
  async getMigration(name) {
    const m = migrations[name];
    if (!m) throw new Error(`unknown migration ${name}`);
    return m;
  },
};
