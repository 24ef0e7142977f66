/**
 * The softswitch of bench/softswitch-register-loop.ts, alone in its process:
 * node [--import tsx] bench/softswitch-register-loop-child.mjs <tree> <dist|src>.
 * Plain JavaScript, so that a tree's dist/ runs without tsx's loader in the process.
 * Prints one JSON line: its UDP port and the core-link key (hex) the bench signs with.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [tree, kind] = process.argv.slice(2);
const mod = async (p) => import(pathToFileURL(kind === 'dist' ? join(tree, 'dist', 'src', p + '.js') : join(tree, 'src', p + '.ts')).href);
const { startSoftswitch } = await mod('softswitch/run');
const { openStore } = await mod('store/index');
const { SoftswitchMetrics } = await mod('softswitch/metrics');
const { MetricsRegistry } = await mod('metrics/index');

const dataDir = mkdtempSync(join(tmpdir(), 'ks-ss-loop-'));
const store = await openStore({ dataDir, masterKeyHex: randomBytes(32).toString('hex'), onNotice: () => undefined });
const REALM = 'lab.example';
const md5 = (s) => createHash('md5').update(s).digest('hex');
const ha1s = new Map();
// The AuC, in process and instant: HA1 of password `pw-<user>` (its cost is the AuC's and the RADIUS link's, not measured here).
const raw = {
  vector: async () => ({ ok: false, reason: 'unknown' }),
  digest: async (r) => {
    let ha1 = ha1s.get(r.username);
    if (!ha1) ha1s.set(r.username, (ha1 = md5(`${r.username}:${REALM}:pw-${r.username.split('@')[0]}`)));
    return { ok: true, ha1, failuresPending: false };
  },
  registered: async () => undefined,
  deregistered: async () => undefined,
  failed: async () => ({ locked: false }),
  close: async () => undefined,
};
const registry = new MetricsRegistry();
const metrics = new SoftswitchMetrics(registry);
const coreLinkKey = randomBytes(32);
// as `keyswitch up` starts it (src/softswitch/role.ts) with config/default.yaml, but sipp's MD5 first
const ss = await startSoftswitch({
  sip: { host: '127.0.0.1', udpPort: 0 },
  trustedSbcs: ['127.0.0.1/32'],
  coreLinkKey,
  realm: REALM,
  expires: { min: 60, max: 7200, default: 3600 },
  aucTimeoutMs: 2000,
  reportLagSec: 60,
  aucMaxInFlight: 1000,
  digestAlgorithms: ['MD5', 'SHA-256'],
  digestMaxNonces: 200000,
  digestNoncesPerIdentity: 8,
  metricsRegistry: registry,
  auc: metrics.observeAucLink(raw, 'radius'),
  store,
});
process.stdout.write(JSON.stringify({ port: ss.ports.udp, key: coreLinkKey.toString('hex') }) + '\n');
process.on('SIGTERM', () => {
  void ss.close().then(async () => {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  });
});
