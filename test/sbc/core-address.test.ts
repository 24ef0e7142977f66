import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.js';
import { coreBinding } from '../../src/sbc/core-address.js';
import { isLoopbackHost, localAddressToward } from '../../src/sip/transport/local-address.js';

/** Where the SBC binds its link to the softswitch, which core-side Via and Record-Route name (docs/deploy.md). */
describe('the SBC core address', () => {
  const ss = { host: '172.28.0.20', port: 5070 };

  it('takes sbc.coreAddress as host:port, [v6]:port or a host alone', async () => {
    expect(await coreBinding(ss, '172.28.0.30:5080')).toEqual({ bindHost: '172.28.0.30', bindPort: 5080 });
    expect(await coreBinding(ss, '[fd00::30]:5080')).toEqual({ bindHost: 'fd00::30', bindPort: 5080 });
    expect(await coreBinding(ss, ' 172.28.0.30 ')).toEqual({ bindHost: '172.28.0.30' });
    await expect(coreBinding(ss, '172.28.0.30:99999')).rejects.toThrow(ConfigError);
  });

  it('binds loopback for a softswitch on loopback', async () => {
    expect(await coreBinding({ host: '127.0.0.1', port: 5070 }, '')).toEqual({ bindHost: '127.0.0.1' });
    expect(await coreBinding({ host: 'localhost', port: 5070 }, '')).toEqual({ bindHost: '127.0.0.1' });
    expect(isLoopbackHost('::1')).toBe(true);
    expect(isLoopbackHost('172.28.0.20')).toBe(false);
  });

  it('otherwise binds the address the system routes to the softswitch from, never 0.0.0.0 when there is a route', async () => {
    // loopback is the one route every machine has: the answer is a loopback address, as the kernel would pick
    expect(await localAddressToward('127.0.0.2', 5070)).toBe('127.0.0.1');
    const routed = await localAddressToward('127.0.0.2', 5070);
    expect(routed).not.toBe('0.0.0.0');
    // an unresolvable name has no route: undefined, and the SBC then warns and binds 0.0.0.0
    expect(await localAddressToward('no-such-host.invalid', 5070)).toBeUndefined();
  });
});
