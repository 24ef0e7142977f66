/** An SBC in front of the fake core, on ephemeral ports, with a temp data dir. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startSbc, type RunningSbc, type StartSbcOptions } from '../../src/sbc/run.js';
import { startFakeCore, type FakeCore } from './fake-core.js';
import { registerSip } from '../../src/terminal/register.js';
import type { SipTerminalOptions } from '../../src/terminal/sip-terminal.js';
import { readFileSync } from 'node:fs';

export const IDSP = 'sbc1.lab.example';
export const FAST = { T1: 50, T2: 200, T4: 250 };

export interface Lab {
  sbc: RunningSbc;
  core: FakeCore;
  ksp: Buffer;
  dir: string;
  ca: string;
  /** Provisions a terminal at the AuC; returns its Kc. */
  provision(idc: string, kc?: Buffer): Buffer;
  terminal(idc: string, kc: Buffer, o?: Partial<SipTerminalOptions>): SipTerminalOptions;
  close(): Promise<void>;
}

export async function startLab(o: { coreTransport?: 'udp' | 'tcp'; sbc?: Partial<StartSbcOptions>; coreExpires?: number; route?: boolean; timerCMs?: number } = {}): Promise<Lab> {
  const dir = mkdtempSync(join(tmpdir(), 'ks-sbc-'));
  const ksp = randomBytes(32);
  const core = await startFakeCore({ idsp: IDSP, ksp, ...(o.coreTransport ? { transport: o.coreTransport } : {}), ...(o.coreExpires ? { expires: o.coreExpires } : {}), ...(o.route ? { route: true } : {}) });
  const sbc = await startSbc({
    idsp: IDSP,
    ksp,
    untrusted: { host: '127.0.0.1', udpPort: 0, tcpPort: 0, tlsPort: 0, tlsPskPort: 0 },
    softswitch: { host: '127.0.0.1', port: core.port, transport: o.coreTransport ?? 'udp', ...(o.timerCMs !== undefined ? { timerCMs: o.timerCMs } : {}) },
    tls: { dataDir: dir },
    timers: FAST,
    ...o.sbc,
  });
  const ca = sbc.certificate ? readFileSync(sbc.certificate.certFile, 'utf8') : '';
  return {
    sbc, core, ksp, dir, ca,
    provision(idc, kc = randomBytes(32)) {
      core.auc.terminals.set(idc, { kc });
      return kc;
    },
    terminal(idc, kc, t = {}) {
      return {
        idc, kc, transport: 'udp', mechs: 'tls-psk;q=0.5, app-hmac;q=0.3',
        sbc: { host: '127.0.0.1', port: 0 }, tls: { ca, servername: IDSP }, timers: FAST,
        ...t,
      } as SipTerminalOptions;
    },
    async close() {
      await sbc.close();
      await core.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The SBC port for a terminal transport. */
export function sbcPort(lab: Lab, transport: 'udp' | 'tcp'): number {
  return transport === 'udp' ? lab.sbc.ports.udp! : lab.sbc.ports.tcp!;
}

export { registerSip };
