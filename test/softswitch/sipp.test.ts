/** sipp as a Digest phone against the softswitch (the shipped scenario, test/sipp/register-digest.xml). */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PHONE, world, type World } from './harness.js';
import { describeEngines } from '../helpers/engines.js';

const hasSipp = spawnSync('which', ['sipp']).status === 0;
if (!hasSipp) console.warn('[keyswitch tests] sipp not installed: softswitch sipp interop SKIPPED');
const scenario = join(import.meta.dirname, '..', 'sipp', 'register-digest.xml');

function errors(dir: string): string {
  try {
    return readFileSync(join(dir, 'err.log'), 'utf8').slice(0, 3000);
  } catch {
    return '';
  }
}

function runSipp(port: number, password: string, dir: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn('sipp', ['-sf', scenario, '-m', '1', '-s', '1000', '-au', '1000', '-ap', password, '-i', '127.0.0.1', '-p', '0',
      '-timeout', '10s', '-timeout_error', '-nostdin', '-trace_err', '-error_file', join(dir, 'err.log'), `127.0.0.1:${port}`], { cwd: dir });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', (code) => resolve({ code, out }));
  });
}

(hasSipp ? describeEngines : (n: string, b: (c: never) => void) => describe.skip(n, () => b(undefined as never)))('sipp REGISTER with Digest against the softswitch', (ctx) => {
  let w: World;
  const dir = mkdtempSync(join(tmpdir(), 'ss-sipp-'));
  beforeAll(async () => {
    // sipp 3.6 reads only the first WWW-Authenticate and knows only MD5 ("createAuthHeader: authentication
    // must use MD5 or AKAv1-MD5"), so this softswitch offers MD5 first; SHA-256 stays offered second.
    w = await world(ctx, { digestAlgorithms: ['MD5', 'SHA-256'] });
  });
  afterAll(async () => {
    await w.close();
    await ctx.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('registers with the provisioned SIP password, and fails with a wrong one', async () => {
    const ok = await runSipp(w.ss.ports.udp!, 'phone pw 1000', dir);
    expect(ok.code, ok.out + errors(dir)).toBe(0);
    expect((await w.store.bindings.current(PHONE)).map((b) => b.contact)).toEqual([expect.stringMatching(/^sip:1000@127\.0\.0\.1:\d+$/)]);
    const bad = await runSipp(w.ss.ports.udp!, 'wrong', dir);
    expect(bad.code).not.toBe(0);
  });
});
