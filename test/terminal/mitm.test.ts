/** A man in the middle between terminal and SBC: the terminal refuses what was changed on the way. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { registerSip } from '../../src/terminal/register.js';
import { startLab, type Lab } from '../sbc/setup.js';
import { startRelay, type Relay } from '../sbc/relay.js';

let lab: Lab;
let relay: Relay;
beforeAll(async () => {
  lab = await startLab();
  relay = await startRelay({ host: '127.0.0.1', port: lab.sbc.ports.udp! });
});
afterEach(() => {
  relay.tamper = undefined;
});
afterAll(async () => {
  await relay.close();
  await lab.close();
});

/** Rewrites one parameter of s10's Authentication-Info on the way down. */
function tamperS10(param: string, change: (v: string) => string) {
  return (dir: 'up' | 'down', data: Buffer): Buffer => {
    const text = data.toString('latin1');
    if (dir !== 'down' || !text.includes('Authentication-Info: KS1')) return data;
    return Buffer.from(text.replace(new RegExp(`(Authentication-Info: KS1 .*?${param}=")([^"]*)(")`), (_m, a: string, v: string, z: string) => a + change(v) + z), 'latin1');
  };
}

const flip = (v: string): string => (v[0] === 'A' ? 'B' : 'A') + v.slice(1);

async function run(idc: string, mechs = 'tls-psk;q=0.5, app-hmac;q=0.3') {
  const kc = lab.provision(idc);
  return registerSip(lab.terminal(idc, kc, { mechs, sbc: { host: '127.0.0.1', port: relay.port } }));
}

describe('the terminal checks s10', () => {
  it('passes untouched through the relay', async () => {
    expect(await run('clean@lab.example')).toMatchObject({ ok: true, mechanism: 'tls-psk' });
  });

  it('refuses a changed mechs (a downgrade attempt on s10)', async () => {
    relay.tamper = tamperS10('mechs', () => 'app-hmac;q=0.3');
    expect(await run('mechs@lab.example')).toMatchObject({ ok: false, error: 'bad-mac', authFailed: true });
  });

  it('refuses a changed mech', async () => {
    relay.tamper = tamperS10('mech', () => 'app-hmac');
    expect(await run('mech@lab.example')).toMatchObject({ ok: false, error: 'bad-mac', authFailed: true });
  });

  it('refuses a changed ekc', async () => {
    relay.tamper = tamperS10('ekc', flip);
    expect(await run('ekc@lab.example')).toMatchObject({ ok: false, error: 'unwrap-failed', authFailed: true });
  });

  it('refuses a changed mac', async () => {
    relay.tamper = tamperS10('mac', flip);
    expect(await run('mac@lab.example')).toMatchObject({ ok: false, error: 'bad-mac', authFailed: true });
  });

  it('refuses a list downgraded on the way up (the honest SBC signs what it got)', async () => {
    relay.tamper = (dir, data) => {
      const t = data.toString('latin1');
      return dir === 'up' && t.includes('Security-Client:') ? Buffer.from(t.replace(/Security-Client: [^\r]*/, 'Security-Client: app-hmac;q=0.3'), 'latin1') : data;
    };
    expect(await run('downgrade@lab.example')).toMatchObject({ ok: false, error: 'downgrade', authFailed: true });
  });

  it('refuses a signed answer changed on the way (app-hmac)', async () => {
    relay.tamper = (dir, data) => {
      const t = data.toString('latin1');
      return dir === 'down' && t.includes('KS-HMAC:') ? Buffer.from(t.replace('SIP/2.0 200 OK', 'SIP/2.0 200 Ok'), 'latin1') : data;
    };
    const r = await run('signed@lab.example', 'app-hmac;q=0.3');
    expect(r).toMatchObject({ ok: false, authFailed: true });
    expect(!r.ok && r.error).toContain('KS-HMAC bad-tag');
  });
});
