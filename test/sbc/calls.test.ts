/** Calls through the SBC (fake core routing between terminals registered through it), under each mechanism. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerCalls, placeCall, type CallEvent } from '../../src/terminal/call.js';
import { startLab, type Lab } from './setup.js';

describe('calls through the SBC with signing on', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab({ route: true });
  });
  afterAll(async () => {
    await lab?.close();
  });

  for (const mech of ['app-hmac', 'tls-psk', 'tls'] as const) {
    it(`INVITE → 180 → 200 → ACK → BYE → 200 under ${mech}`, async () => {
      const a = `alice-${mech}@lab.example`;
      const b = `bob-${mech}@lab.example`;
      const ka = lab.provision(a);
      const kb = lab.provision(b);
      const mechs = `${mech};q=0.7`;
      const bEvents: CallEvent[] = [];
      const aEvents: CallEvent[] = [];
      const sbc = { host: '127.0.0.1', port: lab.sbc.ports.udp! };
      let ready: () => void;
      const registered = new Promise<void>((r) => (ready = r));
      const answering = answerCalls({
        ...lab.terminal(b, kb), mechs, sbc, calls: 1, timeoutSeconds: 10,
        onEvent: (e) => {
          bEvents.push(e);
          if (e.event === 'registered') ready();
        },
      });
      await registered;
      const code = await placeCall({ ...lab.terminal(a, ka), mechs, sbc, to: b, holdSeconds: 0, onEvent: (e) => aEvents.push(e) });
      expect(aEvents.map((e) => e.event)).toEqual(['registered', 'calling', 'ringing', 'answered', 'bye']);
      expect(code).toBe(0);
      expect(await answering).toBe(0);
      expect(bEvents.map((e) => e.event)).toEqual(['registered', 'incoming', 'ringing', 'answered', 'confirmed', 'bye']);
      expect(aEvents.find((e) => e.event === 'registered')).toMatchObject({ mechanism: mech });
      const s = lab.sbc.stats();
      expect(s.calls.answered).toBeGreaterThanOrEqual(2);
      expect(s.signing.viaDropped).toBe(0);
    });
  }
});
