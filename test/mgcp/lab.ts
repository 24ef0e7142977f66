/** A gateway → SBC → call agent → fake AuC lab on 127.0.0.1 with ephemeral ports. */
import { randomBytes } from 'node:crypto';
import { FakeAuc } from '../flow/harness.js';
import { startMgcpRelay, type MgcpRelay, type MgcpRelayOptions } from '../../src/sbc/mgcp-relay.js';
import { startMgcpSoftswitch, type MgcpSoftswitch, type MgcpSoftswitchOptions } from '../../src/softswitch/mgcp-agent.js';
import { MgcpGateway, type MgcpGatewayOptions } from '../../src/terminal/mgcp-gateway.js';
import type { MgcpPeer, TransportTimers } from '../../src/mgcp/transport.js';

export const IDSP = 'sbc1.lab.example';
export const KSP = Buffer.alloc(32, 0x22);
export const FAST: Partial<TransportTimers> = { initialRtoMs: 40, maxRtoMs: 200, maxAttempts: 6, provisionalAfterMs: 2000, responseCacheMs: 5000 };

export interface Capture {
  side: 'gateway' | 'access' | 'core' | 'softswitch';
  dir: 'in' | 'out';
  data: Buffer;
  peer: MgcpPeer;
}

export interface Lab {
  auc: FakeAuc;
  ss: MgcpSoftswitch;
  sbc: MgcpRelay;
  captures: Capture[];
  /** Adds a terminal to the AuC and returns its key. */
  provision(idc: string, kc?: Buffer): Buffer;
  gateway(o: Partial<MgcpGatewayOptions> & { idc: string; kc: Buffer }): Promise<MgcpGateway>;
  close(): Promise<void>;
}

export async function startLab(o: {
  timers?: Partial<TransportTimers>;
  ssTimers?: Partial<TransportTimers>;
  relay?: Partial<MgcpRelayOptions>;
  ss?: Partial<MgcpSoftswitchOptions>;
  /** Gateways talk to this port instead of the SBC's (a lossy proxy in front of it). */
  sbcPort?: (sbcPort: number) => Promise<number>;
} = {}): Promise<Lab> {
  const auc = new FakeAuc(Date.now, randomBytes);
  auc.proxies.set(IDSP, KSP);
  const captures: Capture[] = [];
  const timers = { ...FAST, ...o.timers };
  const ss = await startMgcpSoftswitch({
    listen: { host: '127.0.0.1', port: 0 },
    auc,
    transport: { ...timers, ...o.ssTimers },
    onPacket: (dir, data, peer) => captures.push({ side: 'softswitch', dir, data, peer }),
    ...o.ss,
  });
  const sbc = await startMgcpRelay({
    listen: { host: '127.0.0.1', port: 0 },
    core: { host: '127.0.0.1', port: 0 },
    softswitch: { host: '127.0.0.1', port: ss.port },
    sbc: { idsp: IDSP, ksp: KSP },
    transport: timers,
    onPacket: (side, dir, data, peer) => captures.push({ side, dir, data, peer }),
    ...o.relay,
  });
  const gwPort = o.sbcPort ? await o.sbcPort(sbc.port) : sbc.port;
  const gateways: MgcpGateway[] = [];
  return {
    auc,
    ss,
    sbc,
    captures,
    provision(idc, kc = randomBytes(32)) {
      auc.terminals.set(idc, { kc });
      return kc;
    },
    async gateway(g) {
      const gw = await MgcpGateway.open({
        sbc: { host: '127.0.0.1', port: gwPort },
        listen: { host: '127.0.0.1', port: 0 },
        transport: timers,
        timeoutMs: 5000,
        onPacket: (dir, data, peer) => captures.push({ side: 'gateway', dir, data, peer }),
        ...g,
      });
      gateways.push(gw);
      return gw;
    },
    async close() {
      await Promise.all(gateways.map((g) => g.close()));
      await Promise.all([sbc.close(), ss.close()]);
    },
  };
}
