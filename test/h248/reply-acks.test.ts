import { afterEach, describe, expect, it } from 'vitest';
import { registerGateway } from '../../src/terminal/gateway-register.js';
import { IDC, KC, startLab, type Lab } from './harness.js';

let lab: Lab | undefined;
afterEach(() => {
  lab?.close();
  lab = undefined;
});

describe('H.248 replies acknowledged along a registration', () => {
  it('the SBC and the softswitch keep only the replies nothing has acknowledged yet', async () => {
    lab = await startLab();
    for (let i = 0; i < 3; i++) {
      const r = await registerGateway({ proto: 'h248', idc: IDC, kc: KC, sbc: lab.target });
      expect(r.ok).toBe(true);
    }
    // per registration the gateway asks three things (ServiceChange, Notify with its answer, a protected Notify) and the
    // SBC asks the softswitch three; the answers to the first two are acknowledged on the asker's next reply
    expect(lab.sbc.stats().access.cached).toBe(3);
    expect(lab.ss.stats().transport.cached).toBe(3);
    expect(lab.sbc.stats().access.acksReceived).toBe(6);
  });
});
