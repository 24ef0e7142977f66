import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { makeSelfSigned, SERIAL_BYTES } from '../../src/crypto/certificate.js';
import { makePoolCertificate } from '../../src/sbc/pool/certificate.js';

// Random bytes that once in a while come out of the generator: leading zeros
// (which gave OpenSSL a non-minimal INTEGER) and a top bit set (a negative one).
const edgeSerials = [
  Buffer.alloc(SERIAL_BYTES, 0x00),
  Buffer.concat([Buffer.from([0x00, 0x00, 0x01]), Buffer.alloc(SERIAL_BYTES - 3, 0x00)]),
  Buffer.concat([Buffer.from([0x80, 0x00]), Buffer.alloc(SERIAL_BYTES - 2, 0x00)]),
  Buffer.concat([Buffer.from([0x00, 0x80]), Buffer.alloc(SERIAL_BYTES - 2, 0x00)]),
  Buffer.alloc(SERIAL_BYTES, 0xff),
];

describe('generated certificates whatever the serial bytes', () => {
  it('the self-signed server certificate opens in OpenSSL with a positive serial of full length', () => {
    for (const bytes of edgeSerials) {
      const x = new X509Certificate(makeSelfSigned('sbc.lab.example', ['127.0.0.1'], 30, bytes).cert);
      expect(x.serialNumber).toMatch(new RegExp(`^[4-7][0-9A-F]{${SERIAL_BYTES * 2 - 1}}$`));
    }
  });

  it('the pool certificate does too', () => {
    for (const bytes of edgeSerials) {
      const x = new X509Certificate(makePoolCertificate({ serialBytes: bytes }).cert);
      expect(x.serialNumber).toMatch(new RegExp(`^[4-7][0-9A-F]{${SERIAL_BYTES * 2 - 1}}$`));
    }
  });

  it('two certificates made one after the other have different serials', () => {
    const a = new X509Certificate(makePoolCertificate().cert).serialNumber;
    const b = new X509Certificate(makePoolCertificate().cert).serialNumber;
    expect(a).not.toBe(b);
  });
});
