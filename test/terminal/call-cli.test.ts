/** `terminal call` / `terminal answer` handlers through an SBC (fake core routing), and the SBC's /metrics. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTerminalAnswer, runTerminalCall } from '../../src/cli/terminal-call.js';
import { startLab, type Lab } from '../sbc/setup.js';

describe('terminal call / answer CLI handlers', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab({ route: true, sbc: { metricsPort: 0 } });
  });
  afterAll(async () => {
    await lab?.close();
  });

  it('answers and places a call, one JSON line per event; exit 0', async () => {
    const kb = lab.provision('bob@lab.example').toString('hex');
    const ka = lab.provision('alice@lab.example').toString('hex');
    const sbc = `127.0.0.1:${lab.sbc.ports.udp}`;
    const bLines: string[] = [];
    const aLines: string[] = [];
    const answer = runTerminalAnswer({ proto: 'sip', id: 'bob@lab.example', key: kb, sbc, mechs: 'app-hmac;q=0.5', calls: 1, timeout: 10, out: (l) => bLines.push(l) });
    while (!bLines.some((l) => l.includes('"registered"'))) await new Promise((r) => setTimeout(r, 20));
    const code = await runTerminalCall({ proto: 'sip', id: 'alice@lab.example', key: ka, sbc, mechs: 'app-hmac;q=0.5', to: 'bob@lab.example', hold: 0, out: (l) => aLines.push(l) });
    expect(code).toBe(0);
    expect(await answer).toBe(0);
    const events = aLines.map((l) => JSON.parse(l) as { event: string });
    expect(events.map((e) => e.event)).toEqual(['registered', 'calling', 'ringing', 'answered', 'bye']);
    expect(bLines.map((l) => (JSON.parse(l) as { event: string }).event)).toEqual(['registered', 'incoming', 'ringing', 'answered', 'confirmed', 'bye']);
    for (const l of [...aLines, ...bLines]) expect(l).not.toContain(ka);

    const text = await (await fetch(`http://127.0.0.1:${lab.sbc.metricsPort}/metrics`)).text();
    expect(text).toMatch(/keyswitch_sbc_registrations_total\{kind="ks1"\} [1-9]/);
    expect(text).toMatch(/keyswitch_sbc_calls_total\{leg="from-terminal",result="answered"\} 1/);
    expect(text).toMatch(/keyswitch_sbc_calls_total\{leg="to-terminal",result="answered"\} 1/);
    expect(text).toMatch(/keyswitch_sbc_active_calls 0/);
    expect(text).toContain('# TYPE keyswitch_sbc_auth_failures_total counter');
  });

  it('a wrong key is an authentication failure: exit 2, counted at the SBC', async () => {
    lab.provision('eve@lab.example');
    const lines: string[] = [];
    const code = await runTerminalCall({ proto: 'sip', id: 'eve@lab.example', key: '11'.repeat(32), sbc: `127.0.0.1:${lab.sbc.ports.udp}`, mechs: 'app-hmac;q=0.5', to: 'bob@lab.example', hold: 0, out: (l) => lines.push(l) });
    expect(code).toBe(2);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ event: 'failed', authFailed: true });
    const text = await (await fetch(`http://127.0.0.1:${lab.sbc.metricsPort}/metrics`)).text();
    expect(text).toMatch(/keyswitch_sbc_auth_failures_total\{kind="wrong-response"\} [1-9]/);
  });

  it('refuses bad usage with exit 1', async () => {
    const err: string[] = [];
    expect(await runTerminalCall({ proto: 'mgcp', id: 'a@b', key: '11'.repeat(32), sbc: '127.0.0.1:1', to: 'b@c', err: (l) => err.push(l) })).toBe(1);
    expect(await runTerminalCall({ proto: 'sip', id: 'a@b', key: '11'.repeat(32), sbc: '127.0.0.1:1', to: 'nobody', err: (l) => err.push(l) })).toBe(1);
    expect(await runTerminalAnswer({ proto: 'sip', id: 'a@b', key: '11'.repeat(32), sbc: '127.0.0.1:1', calls: 0, err: (l) => err.push(l) })).toBe(1);
    expect(err).toHaveLength(3);
  });
});
