/**
 * The Digest load scenario of bench/register.ts (bench/sipp/register-digest-inf.xml):
 * sipp takes each registration's user and password from an injection file,
 * through the SBC of `keyswitch up`. Guards the [authentication] form that
 * sipp 3.6 actually substitutes (quoted parameters), and that the figures the
 * benchmark prints are registrations the softswitch accepted.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ks, startDaemon, type Daemon } from '../helpers/cli.js';
import { freePorts, upEnv } from '../helpers/ports.js';

const hasSipp = ['/usr/bin', '/usr/local/bin'].some((d) => existsSync(join(d, 'sipp')));
if (!hasSipp) console.warn('[keyswitch tests] sipp not installed: sipp Digest load scenario SKIPPED');
const SCENARIO = join(import.meta.dirname, '..', '..', 'bench', 'sipp', 'register-digest-inf.xml');

interface SippRun {
  code: number | null;
  out: string;
  messages: string;
  successful: number;
  failed: number;
}

function sipp(args: string[], cwd: string, tag: string): Promise<SippRun> {
  const messages = join(cwd, `${tag}-messages.log`);
  const p = spawn('sipp', [...args, '-nostdin', '-timeout', '20s', '-timeout_error', '-trace_msg', '-message_file', messages], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) =>
    p.on('close', (code) => {
      const cum = (label: string) => Number(new RegExp(`${label}\\s*\\|\\s*\\d+\\s*\\|\\s*(\\d+)`).exec(out)?.[1] ?? NaN);
      resolve({ code, out, messages: existsSync(messages) ? readFileSync(messages, 'utf8') : '', successful: cum('Successful call'), failed: cum('Failed call') });
    }),
  );
}

/** Established TCP connections (IPv4 and IPv6) whose local end is `port`, from /proc/net. */
function establishedTo(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
      const [, local, , st] = line.trim().split(/\s+/);
      if (local?.endsWith(':' + hex) && st === '01') n++;
    }
  }
  return n;
}

(hasSipp ? describe : describe.skip)('sipp Digest registrations from an injection file through the SBC (skipped without sipp)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-sipp-inf-'));
  const g = ['--data-dir', join(dir, 'data')];
  let daemon: Daemon;
  let sbc: string;
  let sippPort: number;
  let softswitchPort: number;

  beforeAll(async () => {
    const up = await upEnv();
    [sippPort] = await freePorts(1) as [number];
    sbc = `127.0.0.1:${up.ports.sbcSip}`;
    softswitchPort = up.ports.ssSip!;
    const env: NodeJS.ProcessEnv = {
      ...up.env,
      KEYSWITCH_LOG_LEVEL: 'warn',
      KEYSWITCH_DIGEST_ALGORITHMS: 'MD5,SHA-256',
      // the benchmark's faster setting (docs/sip-core-link.md, "Transport")
      KEYSWITCH_SBC_CORE_TRANSPORT: 'tcp',
    };
    for (let i = 0; i < 3; i++) {
      const r = ks([...g, '--init', 'provision', 'terminal', `d${i}@127.0.0.1`, '--sip-password', `pw${i}`], env);
      expect(r.code, r.stderr).toBe(0);
    }
    ({ daemon } = await startDaemon([...g, 'up'], /SBC H\.248 \(gateways\)/, env));
  }, 60_000);

  afterAll(async () => {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('registers three users, each with its own name and password in the Authorization, each answered 200', async () => {
    const users = join(dir, 'users.csv');
    writeFileSync(users, 'SEQUENTIAL\nd0;pw0\nd1;pw1\nd2;pw2\n');
    const r = await sipp(['-sf', SCENARIO, '-inf', users, '-m', '3', '-i', '127.0.0.1', '-p', String(sippPort), sbc], dir, 'good');
    expect(r.code, r.out.slice(-1500)).toBe(0);
    expect({ successful: r.successful, failed: r.failed }).toEqual({ successful: 3, failed: 0 });
    for (let i = 0; i < 3; i++) expect(r.messages).toMatch(new RegExp(`^Authorization: Digest username="d${i}",.*algorithm=MD5`, 'm'));
    expect(r.messages).not.toContain('[authentication'); // the keyword was substituted, not sent as text
    expect(r.messages.match(/^SIP\/2\.0 200 /gm)?.length).toBe(3);
    // they reached the softswitch over the SBC's TCP core link (sbc.coreTransport tcp): one connection to its SIP port
    expect(establishedTo(softswitchPort)).toBe(1);
  }, 60_000);

  it('does not count a user with a wrong password as registered', async () => {
    const users = join(dir, 'bad.csv');
    writeFileSync(users, 'SEQUENTIAL\nd1;not-pw1\n');
    const r = await sipp(['-sf', SCENARIO, '-inf', users, '-m', '1', '-i', '127.0.0.1', '-p', String(sippPort), sbc], dir, 'bad');
    expect(r.code).not.toBe(0);
    expect(r.successful).toBe(0);
    expect(r.messages).not.toMatch(/^SIP\/2\.0 200 /m);
  }, 60_000);
});
