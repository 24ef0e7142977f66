/**
 * A real SBC in front of a real softswitch and AuC, on a fresh embedded store in a temp dir,
 * every listener on an ephemeral port: for tests whose attack or call needs the whole path,
 * not the fake core of ./setup.ts.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Auc } from '../../src/auc/auc.js';
import type { AucService } from '../../src/contracts/auc.js';
import type { SbcConnectionLimits } from '../../src/sbc/connection-limits.js';
import { startSbc, type RunningSbc } from '../../src/sbc/run.js';
import { startSoftswitch, type SoftswitchHandle } from '../../src/softswitch/run.js';
import { openStore, type Store } from '../../src/store/index.js';
import { FAST, IDSP } from './setup.js';

export interface RealCore {
  dir: string;
  store: Store;
  ss: SoftswitchHandle;
  sbc: RunningSbc;
  /** The SBC's self-signed certificate, for TLS clients. */
  ca: string;
  close(): Promise<void>;
}

export async function startRealCore(o: {
  /** Made the temp dir's name. */
  name: string;
  /** The softswitch's AuC made from the real one (to wrap it); default: the real one. */
  auc?: (real: Auc) => AucService;
  connections?: SbcConnectionLimits;
}): Promise<RealCore> {
  const dir = mkdtempSync(join(tmpdir(), `ks-sbc-${o.name}-`));
  const store = await openStore({ dataDir: dir, masterKeyHex: randomBytes(32).toString('hex') });
  const ksp = randomBytes(32);
  await store.proxies.create(IDSP, ksp);
  const real = new Auc(store, { challengeTtlSeconds: 30, lockout: { threshold: 3, windowSeconds: 60, baseSeconds: 30, maxSeconds: 300 } });
  const coreLinkKey = randomBytes(32);
  const ss = await startSoftswitch({ sip: { host: '127.0.0.1', udpPort: 0 }, trustedSbcs: ['127.0.0.1/32'], coreLinkKey, realm: 'lab.example', auc: o.auc ? o.auc(real) : real, store });
  const sbc = await startSbc({
    idsp: IDSP, ksp, store, coreLinkKey,
    untrusted: { host: '127.0.0.1', udpPort: 0, tcpPort: 0, tlsPort: 0, tlsPskPort: 0 },
    softswitch: { host: '127.0.0.1', port: ss.ports.udp!, transport: 'udp' },
    tls: { dataDir: dir },
    ...(o.connections ? { connections: o.connections } : {}),
    timers: FAST,
  });
  return {
    dir, store, ss, sbc,
    ca: readFileSync(sbc.certificate!.certFile, 'utf8'),
    async close() {
      await sbc.close();
      await ss.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
