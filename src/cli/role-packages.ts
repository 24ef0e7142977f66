/**
 * A role process loads at its start every package a role may use, as it did
 * before the CLI learnt to load them on first use (docs/performance.md,
 * "Start-up and the suite's length"): with them left out, the SBC and the
 * softswitch measured 8–25 % more CPU per Digest registration under load
 * (`bench:compare`, alternated against the earlier build). The cause is not
 * established; the heap a role starts with is the lead. One-shot commands do
 * without them.
 */
import 'ioredis';
import 'knex';
import 'better-sqlite3';
import 'pg';
import 'pino';
import 'yaml';
import 'node-forge';
