/**
 * The H.323 roles in one process (endpoint → SBC → gatekeeper → fake AuC):
 * H.225.0 retransmission, RIP while the AuC is slow, the response cache,
 * the gatekeeper's URQ, lockout, hostile datagrams on both sockets.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { decodeRas, encodeRas, H225_PROTOCOL_V7, type RasMessage } from '../../src/h323/index.js';
import { rawUdpUnavailable, sendFromPort0 } from '../helpers/raw-udp.js';
import { RasTransport } from '../../src/h323/transport.js';
import { startLab, attacker, mitm, type Lab } from './lab.js';
import { ip4 } from './samples.js';

let lab: Lab | undefined;
afterEach(async () => {
  await lab?.close();
  lab = undefined;
});

const count = (l: Lab, side: string, dir: 'in' | 'out', type: string) =>
  l.captures.filter((c) => c.side === side && c.dir === dir && (decodeRas(c.data) as { message?: RasMessage }).message?.type === type).length;

describe('H.323 registration in process', () => {
  it('KS1: registers, keeps alive, and is unregistered by the gatekeeper with a protected URQ the endpoint answers', async () => {
    lab = await startLab();
    const kc = lab.provision('ep@lab.example');
    const ep = await lab.endpoint({ idc: 'ep@lab.example', kc });
    const r = await ep.register();
    expect(r).toMatchObject({ ok: true, idsp: 'sbc1.lab.example', mechanism: 'app-hmac' });
    expect(lab.gk.registration('ep@lab.example')).toMatchObject({ kind: 'ks1', mechanism: 'app-hmac', endpointIdentifier: ep.endpointIdentifier });
    expect(lab.sbc.sessions.get('ep@lab.example')?.protocol).toBe('h323');
    expect((await ep.keepAlive()).ok).toBe(true);
    expect(await lab.gk.unregister('ep@lab.example')).toBe('unregistered');
    expect(ep.unregisteredByGatekeeper).toBe(true);
    expect(ep.registered).toBe(false);
    expect(lab.sbc.sessions.get('ep@lab.example')).toBeUndefined();
    expect(lab.gk.registration('ep@lab.example')).toBeUndefined();
    expect(lab.auc.registrations.filter((x) => x.protocol === 'h323' && x.idc === 'ep@lab.example').length).toBeGreaterThanOrEqual(1);
  });

  it('retransmits lost requests and answers a retransmission from the cache: the gatekeeper handles each request once', async () => {
    let dropped = 0;
    // Every first datagram each way is lost once.
    const seen = new Set<string>();
    lab = await startLab({
      endpointPort: (port) =>
        mitm(port, (dir, data) => {
          const k = `${dir}:${data.toString('hex')}`;
          if (!seen.has(k)) {
            seen.add(k);
            dropped++;
            return null;
          }
          return data;
        }).then((p) => p.port),
    });
    const kc = lab.provision('ep@lab.example');
    const ep = await lab.endpoint({ idc: 'ep@lab.example', kc });
    expect((await ep.register()).ok).toBe(true);
    expect((await ep.keepAlive()).ok).toBe(true);
    expect(dropped).toBeGreaterThanOrEqual(6);
    expect(ep.stats().transport.retransmissions).toBeGreaterThanOrEqual(3);
    // The SBC saw each retransmitted request whose answer was lost, and answered it from its cache.
    expect(lab.sbc.stats().access.duplicates).toBeGreaterThanOrEqual(1);
    expect(lab.gk.stats().challenges).toBe(1);
    expect(lab.gk.stats().accepted).toBe(1);
  });

  it('sends RIP while the AuC is slow, so the endpoint waits instead of giving up', async () => {
    // The endpoint would give up after 4 × 150 ms; the AuC takes 1.2 s.
    lab = await startLab({ timers: { timeoutMs: 150, retries: 3, ripAfterMs: 100, ripDelayMs: 400, maxWaitMs: 10_000 } });
    lab.auc.delayMs = 1200;
    const kc = lab.provision('ep@lab.example');
    const ep = await lab.endpoint({ idc: 'ep@lab.example', kc });
    expect((await ep.register()).ok).toBe(true);
    expect(lab.sbc.stats().access.ripSent).toBeGreaterThan(0);
    expect(lab.gk.stats().transport.ripSent).toBeGreaterThan(0);
    expect(ep.stats().transport.ripIn).toBeGreaterThan(0);
    expect(count(lab, 'endpoint', 'in', 'requestInProgress')).toBeGreaterThan(0);
  });

  it('H.235.1: wrong passwords lock the identity; then the right one is refused exactly as a wrong one', async () => {
    lab = await startLab();
    lab.provision('plain@lab.example', { password: 'right' });
    for (let i = 0; i < 3; i++) {
      const ep = await lab.endpoint({ idc: 'plain@lab.example', password: 'wrong' });
      expect(await ep.register()).toEqual({ ok: false, kind: 'auth-failed', message: 'RRQ rejected: securityDenial' });
    }
    expect(lab.auc.failedReports.filter((f) => f.idc === 'plain@lab.example').length).toBe(3);
    const ep = await lab.endpoint({ idc: 'plain@lab.example', password: 'right' });
    expect(await ep.register()).toEqual({ ok: false, kind: 'auth-failed', message: 'RRQ rejected: securityDenial' });
    expect(lab.gk.stats().refusedIdentities).toBe(1);
  });

  it('H.235.1: the RCF is checked under the password key — an RCF from a gatekeeper without it is refused', async () => {
    lab = await startLab();
    lab.provision('plain@lab.example', { password: 'right' });
    // A man in the middle re-signs nothing: it flips one bit of the RCF's hash.
    const l = lab;
    const port = await mitm(l.sbc.port, (dir, data) => {
      const d = decodeRas(data);
      if (dir === 'down' && d.ok && d.message.type === 'registrationConfirm') data[data.length - 1] ^= 0x01;
      return data;
    });
    const ep = await lab.endpoint({ idc: 'plain@lab.example', password: 'right', sbc: { host: '127.0.0.1', port: port.port } });
    const r = await ep.register();
    port.close();
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/^RCF refused: /);
  });

  it('hostile datagrams on the access and core sockets are dropped and counted; registration still works', async () => {
    lab = await startLab();
    const a = await attacker();
    try {
      for (const junk of [Buffer.alloc(0), Buffer.from('REGISTER sip:x SIP/2.0\r\n\r\n'), Buffer.alloc(3000, 0xff), Buffer.from([0x0e, 0xff, 0xff, 0xff])]) {
        a.send(junk, lab.sbc.port);
        a.send(junk, lab.sbc.corePort);
        a.send(junk, lab.gk.port);
      }
      // A well-formed URQ on the SBC's core socket from someone other than the gatekeeper: dropped, unanswered.
      const urq: RasMessage = { type: 'unregistrationRequest', value: { requestSeqNum: 9, callSignalAddress: [], endpointIdentifier: 'x' } };
      a.send(encodeRas(urq), lab.sbc.corePort);
      expect(await a.next(300)).toBeUndefined();
    } finally {
      a.close();
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(lab.sbc.stats().access.undecodable).toBeGreaterThanOrEqual(3);
    expect(lab.sbc.stats().counters.foreignCore).toBe(1);
    const kc = lab.provision('ep@lab.example');
    const ep = await lab.endpoint({ idc: 'ep@lab.example', kc });
    expect((await ep.register()).ok).toBe(true);
  });

  it.skipIf(rawUdpUnavailable())('a GRQ from a forged source port 0 gets an answer into nothing, not a crash; an endpoint still registers', async () => {
    lab = await startLab();
    const grq: RasMessage = { type: 'gatekeeperRequest', value: { requestSeqNum: 5, protocolIdentifier: H225_PROTOCOL_V7, rasAddress: ip4('127.0.0.1', 1719), endpointType: { terminal: {}, mc: false, undefinedNode: false }, endpointAlias: [{ type: 'h323-ID', value: 'x' }] } };
    sendFromPort0('127.0.0.1', lab.sbc.port, encodeRas(grq));
    for (let i = 0; i < 50 && lab.sbc.stats().access.sendErrors === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(lab.sbc.stats().access.sendErrors).toBe(1);
    const kc = lab.provision('ep@lab.example');
    const ep = await lab.endpoint({ idc: 'ep@lab.example', kc });
    expect((await ep.register()).ok).toBe(true);
  });

  it('a transport answers a retransmitted request from its cache and never runs the handler twice', async () => {
    let handled = 0;
    const server = await RasTransport.open({
      host: '127.0.0.1',
      port: 0,
      onRequest: async (req) => {
        handled++;
        await new Promise((r) => setTimeout(r, 30));
        return { type: 'unregistrationConfirm', value: { requestSeqNum: req.seq } };
      },
    });
    const a = await attacker();
    try {
      const urq = encodeRas({ type: 'unregistrationRequest', value: { requestSeqNum: 77, callSignalAddress: [] } });
      a.send(urq, server.port);
      a.send(urq, server.port);
      const first = await a.next();
      a.send(urq, server.port);
      const again = await a.next();
      expect(first && again && first.equals(again)).toBe(true);
      expect(handled).toBe(1);
      expect(server.stats().duplicates).toBe(2);
    } finally {
      a.close();
      await server.close();
    }
  });
});

describe('keyswitch terminal register --proto h323', () => {
  it('ends with exit 1 and the reason when the SBC never answers within --timeout', async () => {
    const { runTerminalRegister } = await import('../../src/cli/terminal.js');
    const silent = await attacker(); // bound, never answers
    const out: string[] = [];
    const err: string[] = [];
    try {
      const code = await runTerminalRegister({ proto: 'h323', id: 'ep@lab.example', key: 'ab'.repeat(32), sbc: `127.0.0.1:${silent.socket.address().port}`, timeout: '0.5', out: (l) => out.push(l), err: (l) => err.push(l) });
      expect(code).toBe(1);
      const line = JSON.parse(out[0]!);
      expect(line).toMatchObject({ ok: false, protocol: 'h323', idc: 'ep@lab.example', authFailed: false });
      expect(line.error).toMatch(/^timeout: no answer from the SBC at 127\.0\.0\.1:\d+ within 0\.5 s$/);
      expect(out.join() + err.join()).not.toContain('ab'.repeat(32));
    } finally {
      silent.close();
    }
  });
});
