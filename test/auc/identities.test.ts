/** The identity rule shared by the API, the CLI and the CSV import (docs/auc.md, "Identities"). */
import { describe, expect, it } from 'vitest';
import { canonicalIdentity, identityProblem } from '../../src/auc/validate.js';

describe('identities are SIP addresses in their one canonical spelling', () => {
  it('accepts what registers today', () => {
    for (const id of ['alice@lab.example', '1000@127.0.0.1', 'gw1@lab.example', "o'brien@lab.example", 'a.b-c_d!~*()&=+$,;?/@x', 'z%C3%BCri@lab.example', 'o%22brien@lab.example', 'v6@[2001:db8::1]', 'x@y']) {
      expect(identityProblem(id), id).toBeUndefined();
    }
    expect(identityProblem('sbc1.lab.example', 'proxy')).toBeUndefined();
    expect(identityProblem('sbc@sbc1.lab.example', 'proxy')).toBeUndefined();
  });

  it('refuses what can never register, stating the rule', () => {
    for (const id of ['o"brien', 'sp ace', '<script>', 'o"brien@lab.example', 'sp ace@lab.example', '<script>@x', '@lab.example', 'alice@', 'a@b@c', 'al%zzce@x', 'a%00b@x', 'a@-bad.example', 'a@lab..example', 'a@lab.example.', 'a@1.2.3', 'a@::1', 'a@[1.2.3.4]', 'a@x:5060', 'sbc1.lab.example']) {
      const p = identityProblem(id);
      expect(p, id).toBeDefined();
      expect(p, id).toContain('a terminal identity is a SIP address user@host');
    }
    expect(identityProblem('bad host!', 'proxy')).toContain('a proxy identity is a host name');
  });

  it('gives every spelling of one address the same canonical form, and accepts only that', () => {
    const spellings = ['z\u00fcri@lab.example', 'zu\u0308ri@lab.example', 'z%c3%bcri@lab.example', 'zu%CC%88ri@lab.example', 'z%C3%BCri@LAB.example', '%7A%C3%BCri@lab.example'];
    for (const s of spellings) {
      expect(canonicalIdentity(s), s).toEqual({ canonical: 'z%C3%BCri@lab.example' });
      expect(identityProblem(s), s).toContain('write it as "z%C3%BCri@lab.example"');
    }
    expect(canonicalIdentity('v6@[2001:DB8:0::1]')).toEqual({ canonical: 'v6@[2001:db8::1]' });
    // the user part is case-sensitive in SIP: these are two terminals, both accepted
    expect(identityProblem('Alice@lab.example')).toBeUndefined();
  });

  it('keeps the old limits: empty, too long, control characters', () => {
    expect(identityProblem('')).toBe('identity is empty');
    expect(identityProblem(`${'a'.repeat(250)}@lab.example`)).toContain('longer than 255');
    expect(identityProblem('a\u0001b@x')).toContain('control characters');
  });
});
