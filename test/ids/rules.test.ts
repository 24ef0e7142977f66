/**
 * The rule file: errors name line, rule and field; hostile files (entity
 * expansion, DTDs, huge, deeply nested) are refused quickly; a reload is
 * atomic and a bad file leaves the rules in force.
 */
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IdsEngine } from '../../src/ids/engine.js';
import { loadRuleFile, watchRuleFile } from '../../src/ids/load.js';
import { compileRules, RuleFileError } from '../../src/ids/rules.js';
import { shippedRules } from '../../src/ids/service.js';

const wrap = (rules: string) => `<?xml version="1.0"?>\n<ids-rules version="1">\n${rules}\n</ids-rules>\n`;

function refused(text: string): RuleFileError {
  try {
    compileRules(text, 'r.xml');
  } catch (e) {
    expect(e).toBeInstanceOf(RuleFileError);
    return e as RuleFileError;
  }
  throw new Error('accepted');
}

describe('ids rule file', () => {
  it('the shipped file loads: every rule type is present', () => {
    const set = loadRuleFile(shippedRules());
    expect(new Set(set.rules.map((r) => r.type))).toEqual(new Set(['flood', 'brute-force', 'scan', 'injection', 'malformed', 'scanner-signature', 'dialog']));
  });

  it('the issue\'s example shape compiles', () => {
    const set = compileRules(wrap(`<rule name="INVITE flooding" type="flood">
    <sip-method method="INVITE"/>
    <number>100</number>
    <interval>60</interval>
    <alert content="INVITE message flood"/>
    <white-list><identity>pbx@lab.example</identity></white-list>
  </rule>`));
    expect(set.rules[0]).toMatchObject({ name: 'INVITE flooding', type: 'flood', number: 100, intervalMs: 60_000, reason: 'INVITE message flood', per: 'flow' });
    expect([...set.rules[0]!.methods!]).toEqual(['INVITE']);
  });

  it('an error names the line, the rule and the field', () => {
    const e = refused(wrap(`<rule name="ok" type="malformed"/>
<!-- <rule name="commented" type="nope"/> -->
<rule name="bad number" type="flood">
  <number>many</number>
  <interval>1</interval>
</rule>`));
    expect(e).toMatchObject({ line: 5, rule: '"bad number"', field: 'number' });
    expect(e.message).toBe('r.xml:5: rule "bad number", <number>: "many" is not a whole number');
    expect(refused(wrap('<rule name="x" type="flood"><interval>1</interval></rule>')).field).toBe('number');
    expect(refused(wrap('<rule name="x" type="floods"/>')).field).toBe('type');
    expect(refused(wrap('<rule name="x" type="malformed"><action type="block" scope="flow"/></rule>')).message).toMatch(/every ban expires/);
    expect(refused(wrap('<rule name="x" type="malformed"><action type="block" seconds="9999999999"/></rule>')).field).toBe('action');
    expect(refused(wrap('<rule name="x" type="malformed"><colour>red</colour></rule>')).field).toBe('colour');
    expect(refused(wrap('<rule name="x" type="malformed"/><rule name="x" type="malformed"/>')).field).toBe('name');
    expect(refused(wrap('<rule name="x" type="malformed"><white-list><address>300.1.1.1</address></white-list></rule>')).field).toBe('white-list/address');
    expect(refused('<ids-rules><rule name="x" type="malformed"></ids-rules>').line).toBe(1);
  });

  it('patterns are literal: regular-expression syntax cannot make a slow rule', () => {
    const set = compileRules(wrap('<rule name="i" type="injection"><pattern>(a+)+$</pattern><pattern>&lt;script</pattern></rule>'));
    const re = set.rules[0]!.pattern!;
    expect(re.test('x(a+)+$y')).toBe(true);
    expect(re.test('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!')).toBe(false);
    expect(re.test('<SCRIPT>')).toBe(true);
  });

  it('billion laughs, external entities, a huge file and deep nesting are refused at once', () => {
    const laughs = `<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
${Array.from({ length: 8 }, (_, i) => `<!ENTITY lol${i + 3} "${`&lol${i + 2};`.repeat(10)}">`).join('\n')}]>
<ids-rules><rule name="&lol9;" type="malformed"/></ids-rules>`;
    const t0 = performance.now();
    expect(refused(laughs).message).toMatch(/DOCTYPE or ENTITY/);
    expect(refused(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><ids-rules><rule name="&x;" type="malformed"/></ids-rules>`).message).toMatch(/DOCTYPE/);
    expect(refused(wrap(`<rule name="big" type="malformed">${'<!-- pad -->'.repeat(100_000)}</rule>`)).message).toMatch(/larger than/);
    expect(() => compileRules(wrap(`<rule name="deep" type="malformed">${'<white-list>'.repeat(5000)}${'</white-list>'.repeat(5000)}</rule>`))).toThrow();
    // undeclared entity references stay text: nothing expands
    const set = compileRules(wrap('<rule name="&amp;x&unknown;" type="malformed"/>'));
    expect(set.rules[0]!.name).toBe('&x&unknown;');
    expect(performance.now() - t0).toBeLessThan(30_000); // a guard against a hang, not a speed check
  });

  it('a huge file on disk is not read whole', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ids-'));
    const f = join(dir, 'r.xml');
    writeFileSync(f, Buffer.alloc(4 << 20, 0x20));
    expect(() => loadRuleFile(f)).toThrow(/larger than/);
  });

  it('reload is atomic: a bad file is refused and the old rules stay; a good one is applied', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ids-'));
    const f = join(dir, 'rules.xml');
    writeFileSync(f, wrap('<rule name="ua" type="scanner-signature"><user-agent>evil</user-agent><action type="drop"/></rule>'));
    const ids = new IdsEngine({ rules: loadRuleFile(f) });
    const refusals: string[] = [];
    const w = watchRuleFile(f, (s) => ids.reload(s), { onRefused: (e) => refusals.push(e) }, { signal: false });
    try {
      const ev = { protocol: 'sip' as const, transport: 'udp', address: '192.0.2.1', port: 1, method: 'OPTIONS', userAgent: 'evil-tool' };
      expect(ids.inspect(ev).kind).toBe('drop');
      writeFileSync(f + '.new', wrap('<rule name="ua" type="scanner-signature"><user-agent>evil</user-agent><action type="drop"/></rule>\n<rule name="broken" type="flood"/>'));
      renameSync(f + '.new', f);
      const r = w.reload();
      expect(r).toMatchObject({ ok: false });
      expect(refusals.at(-1)).toMatch(/rule "broken", <number>/);
      expect(ids.rules.rules.map((x) => x.name)).toEqual(['ua']);
      expect(ids.inspect({ ...ev, port: 2 }).kind).toBe('drop');
      writeFileSync(f, wrap('<rule name="ua2" type="scanner-signature"><user-agent>other</user-agent><action type="drop"/></rule>'));
      expect(w.reload()).toEqual({ ok: true, rules: 1 });
      expect(ids.inspect({ ...ev, port: 3 }).kind).toBe('pass');
      expect(ids.inspect({ ...ev, port: 4, userAgent: 'other' }).kind).toBe('drop');
    } finally {
      w.close();
    }
  });

  it('SIGHUP re-reads the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ids-'));
    const f = join(dir, 'rules.xml');
    writeFileSync(f, wrap('<rule name="a" type="malformed"/>'));
    const ids = new IdsEngine({ rules: loadRuleFile(f) });
    const applied: number[] = [];
    const w = watchRuleFile(f, (s) => ids.reload(s), { onApplied: (s) => applied.push(s.rules.length) }, { debounceMs: 60_000 });
    try {
      writeFileSync(f, wrap('<rule name="a" type="malformed"/><rule name="b" type="malformed"/>'));
      process.emit('SIGHUP', 'SIGHUP');
      expect(applied).toEqual([2]);
      expect(ids.rules.rules.length).toBe(2);
    } finally {
      w.close();
    }
  });
});
