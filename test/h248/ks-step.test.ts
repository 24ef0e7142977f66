import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ksStep, rootCommand } from '../../src/adapters/h248/ks-mapping.js';
import { parseMessage, readObservedEvents, readProperties, readServiceChange } from '../../src/h248/index.js';
import type { Command, TransactionRequest } from '../../src/h248/index.js';

/** ksStep as it was written on the readers' maps: the classification must stay the same. */
function byReaders(cmd: Command): string | undefined {
  if (cmd.name === 'ServiceChange') return readServiceChange(cmd)?.extensions.has('X-KSIDC') ? 'register' : undefined;
  if (cmd.name === 'Notify') return readObservedEvents(cmd)?.events.some((e) => e.name === 'ks/auth') ? 'authenticate' : undefined;
  if (cmd.name === 'Modify') {
    const p = readProperties(cmd);
    if (p.has('ks/ekc')) return 'accepted';
    if (p.has('ks/rand')) return 'challenge';
  }
  return undefined;
}

const command = (text: string): Command | undefined => {
  const r = parseMessage(Buffer.from(`!/1 [192.0.2.1]:2944\nT=1{C=-{${text}}}`, 'utf8'));
  return r.ok ? rootCommand(r.message.transactions[0] as TransactionRequest) : undefined;
};

const SHAPES = [
  'SC=ROOT{SV{MT=RS,RE="901 Cold Boot",X-KSIDC="gw1@lab.example",X-KSN1=AAAA}}',
  'SC=ROOT{SV{MT=RS,X-KSIDC}}',
  'SC=ROOT{SV{X-KSIDCX=1}}',
  'SC=ROOT{SV{X-KSIDC>1}}',
  'SC=ROOT{MF=1,SV{X-KSIDC=1}}',
  'N=ROOT{OE=7{ks/auth{resp=QQ}}}',
  'N=ROOT{OE{ks/auth}}',
  'N=ROOT{OE=7{al/of,20240101T10000000:ks/auth}}',
  'MF=ROOT{M{TS{ks/rand=AAAA,ks/idc=x}},E=9{ks/auth}}',
  'MF=ROOT{M{TS{ks/result=ok,ks/ekc=AAAA,ks/rand=AAAA}}}',
  'MF=ROOT{M{ST=1{O{ks/ekc=1}}}}',
  'MF=ROOT{M{ST=1{TS{ks/ekc=1}}}}',
  'MF=ROOT{M{O{ks/rand=1}}}',
  'MF=ROOT{M{TS{ks/rand}}}',
  'MF=ROOT{M{TS{ks/rand<1}}}',
  'MF=ROOT{TS{ks/rand=1}}',
];

describe('ksStep', () => {
  it('classifies as the descriptor readers would, in any spelling of the names, without their maps', () => {
    const spellings = fc.array(fc.boolean(), { minLength: 200, maxLength: 200 });
    fc.assert(
      fc.property(fc.constantFrom(...SHAPES), spellings, fc.boolean(), (shape, upper, kelvin) => {
        // each letter in either case; sometimes U+212A KELVIN SIGN for a k (lower-cases to k, upper-cases to itself)
        let i = 0;
        const text = shape.replace(/[A-Za-z]/g, (ch) => (kelvin && ch === 'k' && upper[i] ? '\u212A' : upper[i++ % 200] ? ch.toUpperCase() : ch.toLowerCase()));
        const cmd = command(text);
        if (!cmd) return;
        expect(ksStep(cmd), text).toBe(byReaders(cmd));
      }),
      { numRuns: 2000 },
    );
    expect(SHAPES.map((s) => ksStep(command(s)!))).toEqual([
      'register', undefined, undefined, undefined, 'register', 'authenticate', undefined, 'authenticate',
      'challenge', 'accepted', 'accepted', undefined, 'challenge', undefined, undefined, undefined,
    ]);
  });
});
