import { afterEach, describe, expect, it } from 'vitest';
import { H248_ERROR } from '../../src/h248/errors.js';
import { registerH248Gateway, type H248Gateway } from '../../src/terminal/h248-gateway.js';
import { gatewayOptions, KC, startLab, type Lab } from './harness.js';

const labs: Lab[] = [];
const gateways: H248Gateway[] = [];
afterEach(() => {
  for (const g of gateways.splice(0)) g.close();
  for (const l of labs.splice(0)) l.close();
});

async function register(l: Lab, idc: string): Promise<H248Gateway> {
  l.auc.terminals.set(idc, KC);
  const r = await registerH248Gateway({ ...gatewayOptions(l, { idc }), keepOpen: true });
  expect(r.ok).toBe(true);
  if (!r.ok) throw new Error(r.message);
  gateways.push(r.gateway!);
  return r.gateway!;
}

const idcs = (l: Lab) => l.ss.registered().map((p) => p.idc);

describe('H.248 MGC: registered peers are bounded', () => {
  // Each gateway registering through the SBC is a new peer address at the MGC (the SBC's socket for that gateway):
  // without a bound, gateways coming and going (or one re-registering from new ports) grew the table for an hour each.
  it('past maxPeers the registration that expires first is forgotten; its gateway is refused (402, not registered), the others still work', async () => {
    const l = await startLab({ ss: { maxPeers: 2 } });
    labs.push(l);
    const a = await register(l, 'gwa@lab.example');
    const b = await register(l, 'gwb@lab.example');
    const c = await register(l, 'gwc@lab.example');
    expect(idcs(l)).toEqual(['gwb@lab.example', 'gwc@lab.example']);
    expect(l.ss.stats().registered).toBe(2);
    expect(await a.notify('A1', 'al/of')).toMatchObject({ ok: false, code: H248_ERROR.unauthorized });
    expect(await b.notify('A1', 'al/of')).toEqual({ ok: true });
    expect(await c.notify('A1', 'al/of')).toEqual({ ok: true });
  });

  it('expired registrations leave the table when a gateway registers, not an hour of them kept', async () => {
    const l = await startLab({ ss: { registrationTtlSec: 1 } });
    labs.push(l);
    await register(l, 'gwa@lab.example');
    await register(l, 'gwb@lab.example');
    expect(l.ss.stats().registered).toBe(2);
    await new Promise((r) => setTimeout(r, 1100));
    await register(l, 'gwc@lab.example');
    expect(idcs(l)).toEqual(['gwc@lab.example']);
  });
});
