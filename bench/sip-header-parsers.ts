/**
 * npx tsx bench/sip-header-parsers.ts [tree]
 *
 * CPU time (process.cpuUsage) per call of the header parsers a Digest registration runs
 * through the SBC most: parseAuth on sipp's Digest Authorization, parseVia on a received Via
 * (rport, received), parseNameAddr on a From, parseUri on a Request-URI. Median of 7 loops
 * of 200,000. `tree`: another checkout's root (its src/ is imported), to compare two trees
 * in alternation (docs/performance.md, "SBC and SIP stack (session 8)").
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Sip from '../src/sip/index.js';
import type * as NameAddr from '../src/sip/headers/name-addr.js';
import { SIPP_DIGEST, SIPP_FROM, SIPP_VIA } from './sipp-register.js';

const tree = resolve(process.argv[2] ?? join(import.meta.dirname, '..'));
const { parseAuth, parseVia, parseUri } = (await import(pathToFileURL(join(tree, 'src', 'sip', 'index.ts')).href)) as typeof Sip;
const { parseNameAddr } = (await import(pathToFileURL(join(tree, 'src', 'sip', 'headers', 'name-addr.ts')).href)) as typeof NameAddr;
function time(name: string, f: () => unknown, n = 200_000): string {
  const rs: number[] = [];
  for (let r = 0; r < 7; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) f();
    const c = process.cpuUsage(c0);
    rs.push(((c.user + c.system) / n) * 1000);
  }
  rs.sort((a, b) => a - b);
  return `${name.padEnd(16)} ${rs[3]!.toFixed(0)} ns`;
}
console.log(`${tree}: CPU per call, median of 7 loops of 200,000`);
console.log(time('parseAuth', () => parseAuth(SIPP_DIGEST, 'Authorization', true)));
console.log(time('parseVia', () => parseVia(`${SIPP_VIA};rport=45999;received=127.0.0.1`)));
console.log(time('parseNameAddr', () => parseNameAddr(SIPP_FROM, 'From')));
console.log(time('parseUri', () => parseUri('sip:127.0.0.1:20148', 'Request-URI')));
