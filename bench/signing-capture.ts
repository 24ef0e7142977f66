/**
 * Loaded before bench/calls.ts (`--import`): records the SBC signer's calls of
 * one call of the warm-up run (the messages as they were handed to the signer)
 * and that SBC's two signing keys, for bench/signing-flow.ts. Bench keys only,
 * written to the file named by SIGNING_CAPTURE (default /tmp/ks-signing-call.json).
 *
 *   npx tsx --import ./bench/signing-capture.ts bench/calls.ts 300 16
 */
import { writeFileSync } from 'node:fs';
import { HeaderSigner } from '../src/sbc/signing/sip-signatures.js';
import { KeyRing } from '../src/sbc/signing/keyring.js';
import { serialize, type SipMessage } from '../src/sip/index.js';

const OUT = process.env.SIGNING_CAPTURE ?? '/tmp/ks-signing-call.json';
const OPS = ['viaSignature', 'verifyVia', 'signRecordRoute', 'verifyRecordRoute', 'signCallerRouteSet', 'verifyInDialogRequest'] as const;
const ops: Array<{ op: string; callId: string; before: string; args: unknown[] }> = [];
const proto = HeaderSigner.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
for (const m of OPS) {
  const f = proto[m]!;
  proto[m] = function (this: HeaderSigner, ...a: unknown[]) {
    const msg = a[0] as SipMessage;
    if (ops.length < 20_000) ops.push({ op: m, callId: msg.callId(), before: serialize(msg).toString('latin1'), args: a.slice(1) });
    return f.apply(this, a);
  };
}
const keys: Record<string, unknown> = {};
const current = KeyRing.prototype.current;
KeyRing.prototype.current = function (this: KeyRing) {
  const k = current.call(this);
  keys[k.purpose] ??= { id: k.id, key: k.key.export().toString('hex'), createdAt: k.createdAt, expiresAt: k.expiresAt };
  return k;
};
process.on('exit', () => {
  const byCall = new Map<string, typeof ops>();
  for (const o of ops) byCall.set(o.callId, [...(byCall.get(o.callId) ?? []), o]);
  const full = [...byCall.values()].filter((l) => l.length === 12);
  const call = full[Math.min(200, full.length - 1)];
  if (!call) return;
  writeFileSync(OUT, JSON.stringify({ keys, call }));
  console.error(`signing-capture: one call's ${call.length} signer calls in ${OUT}: ${call.map((o) => o.op).join(' ')}`);
});
