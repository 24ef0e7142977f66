/**
 * SBC header signing throughput on a realistic INVITE (npx tsx bench/signing.ts):
 * Via sign+verify, Record-Route/route-set sign+verify, with and without a
 * pool blob (verified at a second instance, so the blob cache is used).
 * Median of 5 runs. Messages are parsed once per iteration, as the SBC does.
 */
import { createSecretKey, randomBytes } from 'node:crypto';
import { HeaderSigner } from '../src/sbc/signing/sip-signatures.js';
import { KeyRing, type SigningKey } from '../src/sbc/signing/keyring.js';
import { SigningPool } from '../src/sbc/pool/pool.js';
import { makePoolCertificate } from '../src/sbc/pool/certificate.js';
import { MemorySigningKeyStore } from '../src/store/signing-keys.js';
import { parseMessage, serialize, type SipRequest, type SipResponse } from '../src/sip/index.js';
import { bAnswers, call, inviteFromCore, PARTY_A, PARTY_B, requestFromA, sbcForwardsInvite } from '../test/signing/flow.js';

async function signer(pool?: SigningPool): Promise<HeaderSigner> {
  const store = new MemorySigningKeyStore();
  const via = await KeyRing.open({ store, purpose: 'via', lifetimeMs: 30 * 60_000 });
  const rr = await KeyRing.open({ store, purpose: 'rr', lifetimeMs: 24 * 3600_000 });
  return new HeaderSigner({ via, rr, pool });
}

function reparse<T>(bytes: Buffer): T {
  const r = parseMessage(bytes);
  if (!r.ok) throw new Error('bench message does not parse');
  return r.message as unknown as T;
}

function rate(n: number, fn: () => void): number {
  for (let i = 0; i < Math.min(2000, n); i++) fn(); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function report(name: string, n: number, fn: () => void): void {
  const runs = Array.from({ length: 5 }, () => rate(n, fn));
  console.log(`${name.padEnd(58)} ${Math.round(median(runs)).toLocaleString('en').padStart(10)} /s  (runs: ${runs.map((r) => Math.round(r / 1000) + 'k').join(' ')})`);
}

const N = 20_000;
const mat = makePoolCertificate();
const plain = await signer();
const pooled = await signer(new SigningPool(mat.cert, mat.key));
const other = await signer(new SigningPool(mat.cert, mat.key));

const invite = inviteFromCore();
const inviteBytes = serialize(invite);
console.log(`INVITE ${inviteBytes.length} bytes; each iteration parses the message(s) it signs or verifies.`);

// Baseline: parsing alone, so the signing cost can be read off.
report('parse INVITE + Vias (baseline, no signing)', N, () => {
  reparse<SipRequest>(inviteBytes).vias();
});

// Via: sign on the outgoing INVITE, verify on the 200 that comes back.
{
  const atB = sbcForwardsInvite(plain, inviteFromCore());
  const okBytes = serialize(bAnswers(atB));
  report('Via: sign (INVITE) + verify (200)', N, () => {
    const r = reparse<SipRequest>(inviteBytes);
    plain.viaSignature(r);
    if (!plain.verifyVia(reparse<SipResponse>(okBytes)).ok) throw new Error('via failed');
  });
}

// Record-Route: sign ks-rr + ks-rsb on the INVITE, verify the 200, sign ks-rsa for the caller.
for (const [name, s, v] of [['no pool', plain, plain], ['pool blob, verified at another instance', pooled, other]] as const) {
  const { inviteAtB, okAtLeg2, okAtA } = call(s);
  const okBytes = serialize(okAtLeg2);
  report(`Record-Route + route sets: sign (INVITE, 200), verify (${name})`, N, () => {
    const r = reparse<SipRequest>(inviteBytes);
    r.prepend('Record-Route', '<sip:sbc.example.net:5060;lr>');
    s.signRecordRoute(r, PARTY_B);
    const res = reparse<SipResponse>(okBytes);
    if (!v.verifyRecordRoute(res).ok) throw new Error('rr failed');
    s.signCallerRouteSet(res, PARTY_A);
  });
  const byeBytes = serialize(requestFromA(okAtA));
  report(`in-dialog request: verify route set (${name})`, N * 2, () => {
    if (!v.verifyInDialogRequest(reparse<SipRequest>(byeBytes)).ok) throw new Error('route set failed');
  });
  void inviteAtB;
}

// What the first message of a dialog (of a key, in fact) costs at another instance: the blob opened, not cached.
{
  const now = Date.now();
  const keys: SigningKey[] = Array.from({ length: 500 }, () => ({
    id: randomBytes(6).toString('base64url'),
    purpose: 'rr' as const,
    key: createSecretKey(randomBytes(32)),
    createdAt: now,
    expiresAt: now + 3600_000,
  }));
  const sealer = new SigningPool(mat.cert, mat.key);
  const t0 = process.hrtime.bigint();
  const blobs = keys.map((k) => sealer.seal(k));
  const sealRate = keys.length / (Number(process.hrtime.bigint() - t0) / 1e9);
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const opener = new SigningPool(mat.cert, mat.key);
    const t1 = process.hrtime.bigint();
    for (const b of blobs) if (!opener.open(b).ok) throw new Error('blob failed');
    runs.push(blobs.length / (Number(process.hrtime.bigint() - t1) / 1e9));
  }
  console.log(`${'pool blob: seal (once per key and rotation)'.padEnd(58)} ${Math.round(sealRate).toLocaleString('en').padStart(10)} /s`);
  console.log(`${'pool blob: open uncached (once per key per instance)'.padEnd(58)} ${Math.round(median(runs)).toLocaleString('en').padStart(10)} /s  (blob ${blobs[0]!.length} chars)`);
}
