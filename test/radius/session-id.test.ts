import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { bindingSessionId, deregisteredAttributes, registeredAttributes } from '../../src/adapters/radius/auc-attributes.js';

it('a binding\'s Acct-Session-Id is the first 16 hex digits of SHA-256 over its IDc, IDsp, protocol and contact (the same across releases)', () => {
  fc.assert(
    fc.property(fc.string(), fc.string(), fc.constantFrom('sip', 'mgcp', 'h248', 'h323'), fc.string({ unit: 'grapheme' }), (idc, idsp, protocol, contact) => {
      const want = createHash('sha256').update(`${idc}\n${idsp}\n${protocol}\n${contact}`).digest('hex').slice(0, 16);
      expect(bindingSessionId(idc, idsp, protocol, contact)).toBe(want);
    }),
  );
});

it('Accounting Start and Stop of one binding carry the same Acct-Session-Id', () => {
  const b = { idc: 'alice@lab.example', idsp: 'sbc1.lab.example', protocol: 'sip', contact: 'sip:alice@192.0.2.7:5060' };
  const start = registeredAttributes({ ...b, ipc: '192.0.2.7', mechanism: '', expiresAt: 1_900_000_000_000 });
  const stop = deregisteredAttributes(b);
  const id = (attrs: { name: string; value: unknown }[]) => attrs.find((a) => a.name === 'Acct-Session-Id')?.value;
  expect(id(start)).toBe(bindingSessionId(b.idc, b.idsp, b.protocol, b.contact));
  expect(id(stop)).toBe(id(start));
});
