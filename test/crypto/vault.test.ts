import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { checkValue, KeyVault, sealedVersion } from '../../src/crypto/vault.js';

describe('key vault', () => {
  it('labels each sealed value with its master-key version, and a vault opens only its own version', () => {
    const key = randomBytes(32);
    const v1 = new KeyVault(key, 1);
    const v2 = new KeyVault(key, 2);
    const s1 = v1.seal(Buffer.from('kc'), 'terminal|key|a');
    const s2 = v2.seal(Buffer.from('kc'), 'terminal|key|a');
    expect(sealedVersion(s1)).toBe(1);
    expect(sealedVersion(s2)).toBe(2);
    expect(v1.open(s1, 'terminal|key|a').toString()).toBe('kc');
    expect(() => v1.open(s2, 'terminal|key|a')).toThrow(/version 2, not 1/);
    // relabelled by hand, the version is still bound in the associated data
    expect(() => v1.open('v1.' + s2.slice(3), 'terminal|key|a')).toThrow();
    expect(() => v1.open(s1, 'terminal|key|b')).toThrow();
    expect(() => new KeyVault(randomBytes(32), 1).open(s1, 'terminal|key|a')).toThrow();
    expect(sealedVersion('x1.abc')).toBeUndefined();
    expect(sealedVersion('v0.abc')).toBeUndefined();
  });

  it('has a check value that names the key and reveals nothing of it', () => {
    const key = randomBytes(32);
    expect(checkValue(key)).toBe(new KeyVault(key, 3).checkValue);
    expect(checkValue(key)).toMatch(/^[0-9a-f]{32}$/);
    expect(checkValue(randomBytes(32))).not.toBe(checkValue(key));
    expect(checkValue(key)).not.toContain(key.toString('hex').slice(0, 8));
    const v = new KeyVault(key);
    expect(JSON.stringify({ v })).not.toContain(key.toString('hex'));
    expect(inspect(v)).toBe('[KeyVault]');
  });
});
