/**
 * The SBC of bench/sbc-register-loop.ts, alone in its process: node [--import tsx]
 * bench/sbc-register-loop-child.mjs <module of startSbc> <the core's UDP port>.
 * Plain JavaScript, so that a tree's dist/ runs without tsx's loader in the process.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [module, corePort] = process.argv.slice(2);
const { startSbc } = await import(pathToFileURL(module).href);
const dataDir = mkdtempSync(join(tmpdir(), 'ks-sbc-loop-'));
// as `keyswitch up` starts it (src/sbc/role.ts): core link signed, header signing on, the overload gate
// deciding on every request, but with its lag and delay signals off: on a shared machine they refuse
// first REGISTERs 503, and a refused registration is not the work this measures
const sbc = await startSbc({
  idsp: 'sbc1.lab.example', ksp: randomBytes(32), coreLinkKey: randomBytes(32),
  untrusted: { host: '127.0.0.1', udpPort: 0, tcpPort: false, tlsPort: false, tlsPskPort: false },
  softswitch: { host: '127.0.0.1', port: Number(corePort) },
  tls: { dataDir },
  overload: { maxPending: 1000, lagHighMs: 0, delayHighMs: 0, retryAfterSec: 5 },
});
process.stdout.write(JSON.stringify({ port: sbc.ports.udp }) + '\n');
process.on('SIGTERM', () => {
  setTimeout(() => process.exit(0), 3000).unref();
  void sbc.close().then(() => {
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  });
});
