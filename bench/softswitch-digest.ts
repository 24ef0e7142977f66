/**
 * npx tsx bench/softswitch-digest.ts [tree]
 *
 * The softswitch's own Digest work per registration (src/softswitch/digest.ts),
 * the AuC's HA1 left out: the 401's WWW-Authenticate values (a new nonce,
 * sealed), then the credentialed REGISTER's check (the nonce opened) and
 * settle (the response compared under HA1, its nonce-count recorded), for
 * 1,000 users in turn, MD5 first as sipp needs. Prints the CPU time
 * (process.cpuUsage) per registration, median of 5 rounds of 50,000. `tree`:
 * another checkout's root, to compare two trees in alternation.
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as DigestModule from '../src/softswitch/digest.js';
import type * as SipModule from '../src/sip/index.js';

const tree = resolve(process.argv[2] ?? join(import.meta.dirname, '..'));
const load = async <T>(p: string): Promise<T> => (await import(pathToFileURL(join(tree, 'src', p)).href)) as T;
const { DigestAuth, digestResponse, digestHex } = await load<typeof DigestModule>('softswitch/digest.ts');
const { formatAuth } = await load<typeof SipModule>('sip/index.ts');

const realm = 'lab.example';
const d = new DigestAuth({ realm, algorithms: ['MD5', 'SHA-256'] });
const fast = d as unknown as { challengeValues?: (stale: boolean) => string[] };
const challenge = (): string[] => (fast.challengeValues ? fast.challengeValues(false) : d.challenges(false).map((c) => formatAuth(c.scheme, c.params)));
const ha1s = Array.from({ length: 1000 }, (_, u) => digestHex('MD5', `user${u}:${realm}:secret${u}`));
const uri = `sip:${realm}`;
let n = 0;
function round(count: number): number {
  const t0 = process.cpuUsage();
  for (let i = 0; i < count; i++, n++) {
    const u = n % 1000;
    const www = challenge()[0]!;
    const nonce = /nonce="([^"]+)"/.exec(www)![1]!;
    const p: Record<string, string> = { username: `user${u}`, realm, nonce, uri, nc: '00000001', cnonce: 'c0ffee', qop: 'auth', algorithm: 'MD5', opaque: d.opaque };
    p.response = digestResponse('MD5', ha1s[u]!, { nonce, nc: p.nc!, cnonce: p.cnonce!, method: 'REGISTER', uri });
    const c = d.check(p, `user${u}@${realm}`, uri);
    if (!c.ok) throw new Error(`check: ${c.kind}`);
    if (d.settle(c, p, 'REGISTER', c.algorithm, ha1s[u]!) !== 'ok') throw new Error('settle');
  }
  const t = process.cpuUsage(t0);
  return (t.user + t.system) / count;
}
round(50_000);
const per: number[] = [];
for (let i = 0; i < 5; i++) per.push(round(50_000));
per.sort((a, b) => a - b);
console.log(`${tree}: ${per.map((x) => x.toFixed(2)).join(' / ')} µs CPU per registration (median ${per[2]!.toFixed(2)}; the test's own response and regex included)`);
