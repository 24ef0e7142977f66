/** Hostile REGISTERs over the wire: every one gets a protocol answer, never a 500 from a crash, and the softswitch keeps serving. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import fc from 'fast-check';
import { describeEngines } from '../helpers/engines.js';
import { ALICE, Registration, SBC, SBC_ADDR, Ua, world, type World } from './harness.js';

const piece = fc.constantFrom('', '*', ',', ';', '=', '"', '<', '>', 'sip:', 'sips:', 'tel:+1', '@', ':', '0', '4294967296', '-1', 'expires=', 'q=', '1.5', 'reg-id=',
  '+sip.instance="<urn:x>"', 'KS1 ', 'Digest ', 'username=', 'nonce=', 'response=', 'n1=', 'n2=', 'ts=', 'algorithm=', 'qop=', 'nc=', 'AAAAAAAAAAAAAAAAAAAAAA', 'alice@lab.example', '%00', ' ', '\t');
const junk = fc.array(piece, { maxLength: 12 }).map((a) => a.join(''));

describeEngines('softswitch under hostile REGISTERs', (ctx) => {
  let w: World;
  let ua: Ua;
  let sbc: Ua;
  beforeAll(async () => {
    w = await world(ctx);
    ua = await Ua.udp();
    sbc = await Ua.udp(SBC_ADDR);
  });
  afterAll(async () => {
    await ua.close();
    await sbc.close();
    await w.close();
    await ctx.cleanup();
  });

  it('answers each with a 4xx/5xx it means, and still registers afterwards', async () => {
    const seen = new Set<number>();
    await fc.assert(
      fc.asyncProperty(fc.boolean(), junk, junk, junk, fc.option(junk, { nil: undefined }), async (viaSbc, contact, expires, auth, extra) => {
        const r = new Registration(viaSbc ? sbc : ua, w.ss.ports.udp!, ALICE);
        const headers: Array<[string, string]> = [];
        if (auth) headers.push(['Authorization', auth]);
        if (viaSbc) headers.push(['P-KS-IDSP', SBC]);
        if (extra !== undefined) headers.push(['P-KS-Auth', extra], ['Security-Client', extra]);
        if (expires) headers.push(['Expires', expires]);
        const res = await r.send({ contacts: contact ? [contact] : [], headers });
        seen.add(res.status);
        expect([400, 401, 403, 404, 423, 494]).toContain(res.status);
      }),
      { numRuns: 250 },
    );
    expect(seen.has(400)).toBe(true);
    const ok = new Registration(ua, w.ss.ports.udp!, ALICE);
    expect((await ok.send()).status).toBe(401);
  });
});
