/**
 * MGCP and H.248 datagrams from a forged source port 0 (a raw socket) to the
 * SBC of `keyswitch up`: Node throws at once for an answer to port 0, so the
 * SBC must drop it and keep running (no role restart), and a gateway on an
 * ordinary socket must then register, full KS1, over each protocol.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS1 } from '../../src/adapters/h248/ks-mapping.js';
import { s1Params } from '../../src/adapters/mgcp/params.js';
import { TerminalFlow } from '../../src/flow/terminal.js';
import { serializeMessage } from '../../src/h248/serialize.js';
import { encodeMgcp } from '../../src/mgcp/encode.js';
import { param } from '../../src/mgcp/types.js';
import { registerH248Gateway } from '../../src/terminal/h248-gateway.js';
import { registerMgcpGateway } from '../../src/terminal/mgcp-gateway.js';
import { rawUdpUnavailable, sendFromPort0 } from '../helpers/raw-udp.js';
import { startUp, type Up } from '../helpers/up.js';
import { parseMetrics, sample } from '../metrics/exposition.js';

const MGCP_GW = 'mgcp-gw@lab.example';
const H248_GW = 'h248-gw@lab.example';

/** An s1 of the gateway's own identity, as its own code would word it (the key is a guess: s1 carries no proof). */
const s1 = (idc: string) => new TerminalFlow({ idc, kc: randomBytes(32), mechanisms: 'app-hmac;q=0.5' }).start();

describe.skipIf(rawUdpUnavailable())('keyswitch up: MGCP and H.248 datagrams from source port 0 [sqlite]', () => {
  let up: Up;
  beforeAll(async () => {
    up = await startUp({ prefix: 'ks-port0-', terminals: [MGCP_GW, H248_GW] });
  });
  afterAll(async () => {
    await up?.stop();
  });

  const metrics = async () => parseMetrics(await (await fetch(`http://127.0.0.1:${up.ports.metrics}/metrics`)).text());
  const vectors = async () => sample(await metrics(), 'keyswitch_auc_requests_total', { op: 'vector' }) || 0;
  /** What the operator would see of an SBC that died on it: the supervisor's line, its restart count. */
  const sbcRestarted = async () => ({
    logged: /role exited/.test(up.daemon.stderr()),
    restarts: sample(await metrics(), 'keyswitch_up_role_restarts_total', { role: 'sbc' }) || 0,
  });

  it('answers into nothing without a restart of the SBC, and gateways then register over MGCP and H.248', async () => {
    const rsip = encodeMgcp({ kind: 'command', verb: 'RSIP', tid: 4711, endpoint: '*@mgcp-gw.lab.example', version: '1.0', params: [param('RM', 'restart'), ...s1Params(s1(MGCP_GW))] });
    const auep = encodeMgcp({ kind: 'command', verb: 'AUEP', tid: 4712, endpoint: 'aaln/1@mgcp-gw.lab.example', version: '1.0', params: [param('F', 'A')] });
    const serviceChange = serializeMessage({ version: 1, mid: '[127.0.0.1]:0', transactions: [{ type: 'request', id: 4713, actions: encodeS1(s1(H248_GW)) }] });
    for (const [port, datagrams] of [[up.ports.sbcMgcp!, [rsip, auep]], [up.ports.sbcH248!, [Buffer.from(serviceChange)]]] as const) {
      const before = await vectors();
      for (const d of datagrams) sendFromPort0('127.0.0.1', port, d);
      // The s1 went on to the AuC (a vector): the SBC took it, and has answers (s6) for port 0.
      for (let i = 0; i < 100 && (await vectors()) === before; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await vectors()).toBe(before + 1);
      await new Promise((r) => setTimeout(r, 300)); // the s6 toward port 0 and its retransmissions
      expect(await sbcRestarted()).toEqual({ logged: false, restarts: 0 });
    }

    const sbc = (port: number) => ({ host: '127.0.0.1', port });
    const mgcp = await registerMgcpGateway({ idc: MGCP_GW, kc: Buffer.from(up.keys[MGCP_GW]!, 'hex'), sbc: sbc(up.ports.sbcMgcp!), listen: { host: '127.0.0.1', port: 0 }, timeoutMs: 8000 });
    if (mgcp.ok) await mgcp.gateway.close();
    expect(mgcp).toMatchObject({ ok: true, idsp: 'sbc1.lab.example', mechanism: 'app-hmac' });
    const h248 = await registerH248Gateway({ idc: H248_GW, kc: Buffer.from(up.keys[H248_GW]!, 'hex'), sbc: sbc(up.ports.sbcH248!), local: { host: '127.0.0.1' }, timeoutMs: 8000 });
    expect(h248).toMatchObject({ ok: true, idsp: 'sbc1.lab.example', mechanism: 'app-hmac' });
    expect(await sbcRestarted()).toEqual({ logged: false, restarts: 0 });
    expect(up.daemon.proc.exitCode).toBeNull();
  });
});
