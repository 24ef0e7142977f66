import dns from 'node:dns';
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { literalFirstLookup } from '../../src/lib/udp-lookup.js';

interface Answer {
  err: NodeJS.ErrnoException | null;
  address: unknown;
  family: unknown;
  sync: boolean;
}

/** Calls a lookup and records its answer and whether it came before the call returned. */
function ask(lookup: (cb: (err: NodeJS.ErrnoException | null, address: unknown, family?: unknown) => void) => void): Promise<Answer> {
  return new Promise((resolve) => {
    let returned = false;
    lookup((err, address, family) => resolve({ err, address, family, sync: !returned }));
    returned = true;
  });
}

type Callback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family: number) => void;
const ours = (host: string, options: number | dns.LookupOptions) => ask((cb) => literalFirstLookup(host, options as dns.LookupOptions, cb as unknown as Callback));
const node = (host: string, options: number | dns.LookupOptions) => ask((cb) => dns.lookup(host, options as dns.LookupOptions, cb as unknown as Callback));

describe('literalFirstLookup', () => {
  it('answers an IPv4 literal in the same turn, with what dns.lookup answers a tick later', async () => {
    for (const options of [4, 0, { family: 4 }, {}] as const) {
      const a = await ours('192.0.2.7', options);
      expect(a).toEqual({ err: null, address: '192.0.2.7', family: 4, sync: true });
      expect(await node('192.0.2.7', options)).toEqual({ ...a, sync: false });
    }
  });

  it('answers an IPv6 literal with family 6, even to a caller that asked for IPv4 (as dns.lookup does)', async () => {
    for (const options of [6, 4, { family: 6 }] as const) {
      const a = await ours('2001:db8::1', options);
      expect(a).toEqual({ err: null, address: '2001:db8::1', family: 6, sync: true });
      expect(await node('2001:db8::1', options)).toEqual({ ...a, sync: false });
    }
  });

  it('gives a caller that asks for all addresses an array, for a literal and for a name', async () => {
    const literal = await ours('::1', { all: true });
    expect(literal).toEqual({ err: null, address: [{ address: '::1', family: 6 }], family: undefined, sync: true });
    expect(await node('::1', { all: true })).toEqual({ ...literal, sync: false });
    const name = await ours('localhost', { all: true, family: 4 });
    expect(name.err).toBeNull();
    expect(name.address).toEqual(expect.arrayContaining([{ address: '127.0.0.1', family: 4 }]));
    expect(name.address).toEqual((await node('localhost', { all: true, family: 4 })).address);
  });

  it('hands a name to dns.lookup: answered later, as dns.lookup answers it', async () => {
    for (const options of [4, { family: 4 }] as const) {
      const a = await ours('localhost', options);
      expect(a).toEqual({ err: null, address: '127.0.0.1', family: 4, sync: false });
      expect(await node('localhost', options)).toEqual(a);
    }
  });

  it("passes dns.lookup's error on to the callback as it is", async () => {
    const a = await ours('no-such-host.invalid', 4);
    const b = await node('no-such-host.invalid', 4);
    expect(a.err).toBeInstanceOf(Error);
    expect(a.err?.code).toBe(b.err?.code);
    expect((a.err as NodeJS.ErrnoException & { hostname?: string }).hostname).toBe('no-such-host.invalid');
    expect(a.address).toBeUndefined();
    expect(a.sync).toBe(false);
  });
});

describe('a dgram socket with literalFirstLookup', () => {
  const open: Socket[] = [];
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });

  async function receiver(type: 'udp4' | 'udp6', host: string): Promise<{ port: number; next: () => Promise<string> }> {
    const s = createSocket(type);
    open.push(s);
    const got: string[] = [];
    let wake: (() => void) | undefined;
    s.on('message', (m) => {
      got.push(m.toString());
      wake?.();
    });
    await new Promise<void>((resolve) => s.bind(0, host, resolve));
    return {
      port: s.address().port,
      next: async () => {
        while (got.length === 0) await new Promise<void>((r) => (wake = r));
        return got.shift()!;
      },
    };
  }

  it('delivers to an IPv4 literal, an IPv6 literal and a name; a name that does not resolve fails the send', async () => {
    const v4 = await receiver('udp4', '127.0.0.1');
    const v6 = await receiver('udp6', '::1');
    const s4 = createSocket({ type: 'udp4', lookup: literalFirstLookup });
    const s6 = createSocket({ type: 'udp6', lookup: literalFirstLookup });
    open.push(s4, s6);
    s4.send('literal', v4.port, '127.0.0.1');
    expect(await v4.next()).toBe('literal');
    s4.send('name', v4.port, 'localhost');
    expect(await v4.next()).toBe('name');
    s6.send('six', v6.port, '::1');
    expect(await v6.next()).toBe('six');
    const err = await new Promise<Error | null>((resolve) => s4.send('x', v4.port, 'no-such-host.invalid', resolve));
    expect(err).toBeInstanceOf(Error);
    s4.send('still', v4.port, '127.0.0.1');
    expect(await v4.next()).toBe('still');
  });
});
