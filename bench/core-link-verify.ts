/**
 * npx tsx bench/core-link-verify.ts [tree]
 *
 * The softswitch's check of the core link's signature (P-KS-Link,
 * src/adapters/sip/core-link.ts) on a Digest REGISTER as the SBC relays it
 * (its Via, Record-Route-free, P-KS-IDSP/IPC, Authorization), each signed by
 * signCoreLink and parsed before the clock starts. Prints the CPU time
 * (process.cpuUsage) per verify, median of 5 rounds of 40,000. `tree`:
 * another checkout's root, to compare two trees in alternation.
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as LinkModule from '../src/adapters/sip/core-link.js';
import type * as SipModule from '../src/sip/index.js';

const tree = resolve(process.argv[2] ?? join(import.meta.dirname, '..'));
const load = async <T>(p: string): Promise<T> => (await import(pathToFileURL(join(tree, 'src', p)).href)) as T;
const { CoreLinkVerifier, signCoreLink } = await load<typeof LinkModule>('adapters/sip/core-link.ts');
const { parseMessage, serialize } = await load<typeof SipModule>('sip/index.ts');

const key = Buffer.alloc(32, 3);
const auth = (i: number) =>
  `Digest username="user${i % 1000}",realm="lab.example",nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",uri="sip:lab.example",response="0123456789abcdef0123456789abcdef",algorithm=MD5,cnonce="6b8b4567",qop=auth,nc=00000001,opaque="abcdefabcdefabcd"`;
function relayed(i: number): Buffer {
  const text =
    `REGISTER sip:lab.example SIP/2.0\r\n` +
    `Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-sbc-${i}\r\n` +
    `Via: SIP/2.0/UDP 127.0.0.1:5070;received=127.0.0.1;rport=5070;branch=z9hG4bK-${i}-1-0\r\n` +
    `From: <sip:user${i % 1000}@lab.example>;tag=${i}SIPpTag001\r\nTo: <sip:user${i % 1000}@lab.example>\r\n` +
    `Call-ID: ${i}-1@127.0.0.1\r\nCSeq: 2 REGISTER\r\nContact: <sip:user${i % 1000}@127.0.0.1:5070>\r\nMax-Forwards: 69\r\nExpires: 3600\r\n` +
    `User-Agent: SIPp\r\nAuthorization: ${auth(i)}\r\nP-KS-IDSP: sbc.lab.example\r\nP-KS-IPC: 127.0.0.1\r\nContent-Length: 0\r\n\r\n`;
  const r = parseMessage(Buffer.from(text));
  if (!r.ok || !r.message.isRequest()) throw new Error('not a request');
  const req = r.message;
  signCoreLink(req, key);
  return serialize(req);
}
const verifier = new CoreLinkVerifier(key);
let n = 0;
function round(count: number): number {
  const msgs = Array.from({ length: count }, () => {
    const r = parseMessage(relayed(n++));
    if (!r.ok) throw new Error('parse');
    return r.message;
  });
  const t0 = process.cpuUsage();
  for (const m of msgs) if (!verifier.verify(m as never).ok) throw new Error('refused');
  const t = process.cpuUsage(t0);
  return (t.user + t.system) / count;
}
round(40_000);
const per: number[] = [];
for (let i = 0; i < 5; i++) per.push(round(40_000));
per.sort((a, b) => a - b);
console.log(`${tree}: ${per.map((x) => x.toFixed(2)).join(' / ')} µs CPU per verify (median ${per[2]!.toFixed(2)})`);
