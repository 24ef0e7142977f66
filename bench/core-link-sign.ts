/**
 * npx tsx bench/core-link-sign.ts
 *
 * CPU time (process.cpuUsage) per P-KS-Link signature of sipp's Digest REGISTER as the SBC
 * forwards it (P-KS-IDSP, P-KS-IPC, Max-Forwards counted): signCoreLink (an Hmac object per
 * request) against coreLinkSigner (the key's pads made once, src/adapters/sip/core-link.ts).
 * Alternated, median of 7 loops of 40,000 each.
 */
import { coreLinkSigner, signCoreLink } from '../src/adapters/sip/core-link.js';
import { parseMessage, type SipRequest } from '../src/sip/index.js';
import { sippRegister } from './sipp-register.js';

// sipp's REGISTER as the SBC forwards it (P-KS-IDSP, P-KS-IPC, Max-Forwards counted).
const reg = sippRegister({ viaParams: ';rport=45999;received=127.0.0.1', maxForwards: 69, extra: ['P-KS-IDSP: sbc1.lab.example', 'P-KS-IPC: 127.0.0.1'] });
const parsed = parseMessage(reg);
if (!parsed.ok) throw new Error(parsed.error.reason);
const base = parsed.message as SipRequest;
const key = Buffer.alloc(32, 7);
const signer = coreLinkSigner(key);
const N = 40_000;
const reqs = Array.from({ length: N }, () => base.clone());

function loop(sign: (r: SipRequest) => void): number {
  for (const r of reqs) r.remove('P-KS-Link');
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) sign(reqs[i]!);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / N;
}
const a: number[] = [];
const b: number[] = [];
for (let r = 0; r < 8; r++) {
  const x = loop((q) => signCoreLink(q, key));
  const y = loop((q) => signer(q));
  if (r > 0) {
    a.push(x);
    b.push(y);
  }
}
const med = (v: number[]) => [...v].sort((p, q) => p - q)[3]!.toFixed(2);
console.log(`CPU µs per signature: signCoreLink ${med(a)}, coreLinkSigner ${med(b)}`);
