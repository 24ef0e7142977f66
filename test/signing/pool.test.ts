import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { BLOB_CHARS, SigningPool } from '../../src/sbc/pool/pool.js';
import { makePoolCertificate } from '../../src/sbc/pool/certificate.js';
import { loadPool, POOL_CERT_FILE, POOL_KEY_FILE } from '../../src/sbc/pool/files.js';
import { runPoolInit } from '../../src/cli/pool.js';
import { PARAM } from '../../src/sbc/signing/sip-signatures.js';
import { parseMessage, serialize, type SipRequest } from '../../src/sip/index.js';
import { call, Clock, makeSigner, requestFromA, requestFromB } from './flow.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'ks-pool-'));
  dirs.push(d);
  return d;
}

const material = makePoolCertificate({ commonName: 'pool.lab.example' });
const otherMaterial = makePoolCertificate({ commonName: 'pool.elsewhere.example' });

function routeParam(r: SipRequest, name: string): string {
  return (r.routes()[0]!.uri as { params: Record<string, string> }).params[name]!;
}
function edit(m: SipRequest, fn: (t: string) => string): SipRequest {
  const r = parseMessage(Buffer.from(fn(serialize(m).toString('latin1')), 'latin1'));
  if (!r.ok || !r.message.isRequest()) throw new Error('edit broke the message');
  return r.message;
}

describe('pool certificate', () => {
  it('is a self-signed EC P-256 certificate matching its key', () => {
    const x = new X509Certificate(material.cert);
    expect(x.subject).toContain('CN=pool.lab.example');
    expect(x.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.checkPrivateKey(createPrivateKey(material.key))).toBe(true);
    expect(x.ca).toBe(false);
  });

  it('refuses a key that does not match the certificate, or an RSA key', () => {
    expect(() => new SigningPool(material.cert, otherMaterial.key)).toThrow(/does not match/);
    expect(() => new SigningPool(material.cert, 'not a key')).toThrow();
  });
});

describe('keyswitch pool init', () => {
  it('writes the certificate and a 0600 private key, and will not overwrite them', () => {
    const out = join(tmp(), 'pool');
    const lines: string[] = [];
    const errs: string[] = [];
    expect(runPoolInit({ out, commonName: 'sbc-pool', stdout: (l) => lines.push(l), stderr: (l) => errs.push(l) })).toBe(0);
    expect(statSync(join(out, POOL_KEY_FILE)).mode & 0o777).toBe(0o600);
    const cert = readFileSync(join(out, POOL_CERT_FILE), 'utf8');
    expect(lines.join('\n')).toContain(new X509Certificate(cert).fingerprint256);
    expect(lines.join('\n')).not.toContain('PRIVATE KEY');
    const pool = loadPool({ certFile: join(out, POOL_CERT_FILE), keyFile: join(out, POOL_KEY_FILE) });
    expect(pool.id).toMatch(/^[0-9a-f]{8}$/);

    expect(runPoolInit({ out, stdout: () => {}, stderr: (l) => errs.push(l) })).toBe(1);
    expect(errs.join('\n')).toMatch(/already holds a pool key pair/);
    expect(readFileSync(join(out, POOL_CERT_FILE), 'utf8')).toBe(cert);
    expect(runPoolInit({ out, force: true, stdout: () => {}, stderr: () => {} })).toBe(0);
    expect(readFileSync(join(out, POOL_CERT_FILE), 'utf8')).not.toBe(cert);
    expect(runPoolInit({ out: '', stdout: () => {}, stderr: () => {} })).toBe(2);
    expect(runPoolInit({ out, validDays: 0, stdout: () => {}, stderr: () => {} })).toBe(2);
  });
});

describe('two SBC instances sharing a pool', () => {
  async function instances(clock: Clock) {
    const poolA = new SigningPool(material.cert, material.key, { now: clock.now });
    const poolB = new SigningPool(material.cert, material.key, { now: clock.now });
    const a = await makeSigner(clock, { pool: poolA });
    const b = await makeSigner(clock, { pool: poolB });
    return { a, b, poolA, poolB };
  }

  it('a dialog set up through A is verified at B, which opens the key blob once', async () => {
    const clock = new Clock();
    const { a, b, poolB } = await instances(clock);
    expect(a.keys.rr.current().id).not.toBe(b.keys.rr.current().id);
    const { inviteAtB, okAtLeg2, okAtA } = call(a.signer);
    const blob = routeParam(requestFromA(okAtA), PARAM.keyBlob);
    expect(blob.length).toBe(BLOB_CHARS);
    expect(blob.length).toBeLessThan(400);
    expect(inviteAtB.get('Record-Route')!.length).toBeLessThan(400);

    expect(b.signer.verifyRecordRoute(okAtLeg2)).toMatchObject({ ok: true, kid: a.keys.rr.current().id });
    for (let i = 0; i < 5; i++) {
      expect(b.signer.verifyInDialogRequest(requestFromA(okAtA, 'BYE', 2 + i))).toMatchObject({ ok: true, side: 'caller' });
      expect(b.signer.verifyInDialogRequest(requestFromB(inviteAtB, 'b1', 'INVITE', 1 + i))).toMatchObject({ ok: true, side: 'callee' });
    }
    expect(poolB.cached()).toBe(1);
    // Via signatures stay with the instance that sent the request.
    expect(b.signer.verifyVia(okAtLeg2)).toMatchObject({ ok: false, reason: 'unknown-key' });
  });

  it('one blob per key: every dialog signed with that key carries the same blob', async () => {
    const clock = new Clock();
    const { a } = await instances(clock);
    const one = routeParam(requestFromA(call(a.signer).okAtA), PARAM.keyBlob);
    const two = routeParam(requestFromA(call(a.signer, { callId: 'second@x', aTag: 'a9' }).okAtA), PARAM.keyBlob);
    expect(two).toBe(one);
    await a.keys.rr.rotate();
    const three = routeParam(requestFromA(call(a.signer, { callId: 'third@x', aTag: 'a8' }).okAtA), PARAM.keyBlob);
    expect(three).not.toBe(one);
  });

  it('refuses a blob from another pool, a forged blob, an expired blob, and a blob for another key', async () => {
    const clock = new Clock();
    const { a, b } = await instances(clock);
    const stranger = await makeSigner(clock, { pool: new SigningPool(otherMaterial.cert, otherMaterial.key, { now: clock.now }) });
    const { okAtA } = call(a.signer);
    const bye = requestFromA(okAtA);
    expect(stranger.signer.verifyInDialogRequest(bye)).toMatchObject({ ok: false, reason: 'other-pool' });

    const blob = routeParam(bye, PARAM.keyBlob);
    const raw = Buffer.from(blob, 'base64url');
    for (const at of [40, 60, raw.length - 1]) {
      const f = Buffer.from(raw);
      f[at] = f[at]! ^ 1;
      const forged = edit(bye, (t) => t.replace(blob, f.toString('base64url')));
      expect(b.signer.verifyInDialogRequest(forged)).toMatchObject({ ok: false, reason: 'forged-key' });
    }
    expect(b.signer.verifyInDialogRequest(edit(bye, (t) => t.replace(blob, blob.slice(0, 100))))).toMatchObject({ ok: false, reason: 'malformed' });
    expect(b.signer.verifyInDialogRequest(edit(bye, (t) => t.replace(`;${PARAM.keyBlob}=${blob}`, '')))).toMatchObject({ ok: false, reason: 'unknown-key' });

    // A genuine blob for a different key does not vouch for this signature's key id.
    await a.keys.rr.rotate();
    const otherBlob = routeParam(requestFromA(call(a.signer, { callId: 'x@y', aTag: 'a7' }).okAtA), PARAM.keyBlob);
    expect(b.signer.verifyInDialogRequest(edit(bye, (t) => t.replace(blob, otherBlob)))).toMatchObject({ ok: false, reason: 'unknown-key' });

    expect(b.signer.verifyInDialogRequest(bye)).toMatchObject({ ok: true });
    clock.advance(4 * 3600_000 + 24 * 3600_000 + 1);
    expect(b.signer.verifyInDialogRequest(bye)).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('never throws on random blobs', async () => {
    const pool = new SigningPool(material.cert, material.key);
    for (let n = 0; n < 200; n++) {
      const len = n % 3 === 0 ? BLOB_CHARS : Math.floor(Math.random() * 400);
      const s = Buffer.from(Array.from({ length: len }, () => Math.floor(Math.random() * 256))).toString('base64url').slice(0, len);
      const r = pool.open(s);
      expect(r.ok).toBe(false);
    }
    // Right length, right version and pool id, garbage after: forged.
    const head = Buffer.alloc(Math.floor((BLOB_CHARS * 3) / 4));
    head[0] = 1;
    Buffer.from(pool.id, 'hex').copy(head, 1);
    expect(pool.open(head.toString('base64url'))).toEqual({ ok: false, reason: 'forged' });
  });
});
