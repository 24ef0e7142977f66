/**
 * Voicemail from the command line through `keyswitch up`: alice's terminal
 * (`keyswitch terminal call --tone --dtmf`) calls bob, who is not
 * registered, and leaves a message; bob retrieves it over SIP with
 * `keyswitch terminal voicemail` (KS1 through the SBC, a=drm, licence over
 * HTTPS) and gets a WAV of the tone; his plays run out; carol is refused.
 */
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUp, type Up } from '../helpers/up.js';
import { BIN } from '../helpers/cli.js';
import { freePorts } from '../helpers/ports.js';

const HOLD = 4;
const BOB_PW = 'bob-voicemail-pw';
const CAROL_PW = 'carol-voicemail-pw';

/** `keyswitch …` without blocking this process (the daemon's answers need our event loop not at all, but the timeouts do). */
function run(up: Up, args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawn(process.execPath, [BIN, ...up.g, ...args], { env: { ...process.env, ...up.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  p.stdin.end(input ?? '');
  return new Promise((resolve) => p.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** Samples of a canonical 16-bit mono WAV, checking its header says so. */
function readWav(file: string): { rate: number; samples: Int16Array } {
  const b = readFileSync(file);
  expect(b.toString('ascii', 0, 4)).toBe('RIFF');
  expect(b.toString('ascii', 8, 16)).toBe('WAVEfmt ');
  expect(b.readUInt16LE(20)).toBe(1); // PCM
  expect(b.readUInt16LE(22)).toBe(1); // mono
  expect(b.readUInt16LE(34)).toBe(16);
  expect(b.toString('ascii', 36, 40)).toBe('data');
  const n = b.readUInt32LE(40) / 2;
  const samples = new Int16Array(n);
  for (let i = 0; i < n; i++) samples[i] = b.readInt16LE(44 + i * 2);
  return { rate: b.readUInt32LE(24), samples };
}

/** The dominant frequency of a stretch by zero crossings (rising), Hz. */
function zeroCrossingHz(s: Int16Array, rate: number): number {
  let rises = 0;
  for (let i = 1; i < s.length; i++) if (s[i - 1]! < 0 && s[i]! >= 0) rises++;
  return (rises * rate) / s.length;
}

/** Goertzel power of `hz` relative to the stretch's energy (1: all of it). */
function goertzelShare(s: Int16Array, rate: number, hz: number): number {
  const w = (2 * Math.PI * hz) / rate;
  const c = 2 * Math.cos(w);
  let p1 = 0;
  let p2 = 0;
  let energy = 0;
  for (const x of s) {
    const p0 = x + c * p1 - p2;
    p2 = p1;
    p1 = p0;
    energy += x * x;
  }
  const power = p1 * p1 + p2 * p2 - c * p1 * p2;
  return energy === 0 ? 0 : (2 * power) / (s.length * energy);
}

describe('voicemail from the command line through keyswitch up', () => {
  let up: Up;
  let work: string;
  let messageId: string;
  const sbc = (): string => `127.0.0.1:${up.ports.sbcSip}`;

  beforeAll(async () => {
    up = await startUp({
      prefix: 'ks-vm-cli-',
      terminals: ['alice@lab.example', 'bob@lab.example', 'carol@lab.example'],
      before: (ks) => {
        for (const [idc, pw] of [['bob@lab.example', BOB_PW], ['carol@lab.example', CAROL_PW]] as const) {
          const r = ks(['voicemail', 'password', idc, '--password-stdin'], `${pw}\n`);
          if (r.code !== 0) throw new Error(`voicemail password ${idc}: ${r.stderr}`);
        }
      },
    });
    work = mkdtempSync(join(tmpdir(), 'ks-vm-cli-out-'));
  }, 60_000);

  afterAll(async () => {
    await up?.stop();
  });

  it('alice leaves bob a message with a tone and keys: "#" ends the recording, "4 1" allows one play, "#" saves', async () => {
    const r = await run(up, ['terminal', 'call', '--id', 'alice@lab.example', '--key', '-', '--sbc', sbc(), '--to', 'bob@lab.example', '--tone', '440', '--hold', String(HOLD), '--dtmf', '#41#'], `${up.keys['alice@lab.example']}\n`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; codec?: string });
    expect(events.map((e) => e.event).filter((e) => e !== 'ringing')).toEqual(['registered', 'calling', 'answered', 'media', 'bye']);
    expect(events.find((e) => e.event === 'media')).toMatchObject({ codec: 'PCMU', toneHz: 440, dtmf: '#41#' });
    expect(r.stdout).not.toContain(up.keys['alice@lab.example']);
    // the operator sees it: bob's, from alice, one play
    let list: { items: Array<{ id: string; owner: string; sender: string; grants: Array<{ holder: string; playsLeft: number | null }> }> } | undefined;
    for (let i = 0; i < 100; i++) {
      const l = up.ks(['voicemail', 'list', '--json']);
      expect(l.code, l.stderr).toBe(0);
      list = JSON.parse(l.stdout);
      if (list!.items.length > 0) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(list!.items).toHaveLength(1);
    const m = list!.items[0]!;
    expect(m).toMatchObject({ owner: 'bob@lab.example', sender: 'alice@lab.example' });
    expect(m.grants).toEqual([expect.objectContaining({ holder: 'bob@lab.example', playsLeft: 1 })]);
    messageId = m.id;
  }, 30_000);

  it('bob plays it over SIP: a WAV of the 440 Hz tone about as long as alice held it, minus the greeting; then his plays are spent (exit 2)', async () => {
    const keyFile = join(work, 'bob.key');
    writeFileSync(keyFile, `${up.keys['bob@lab.example']}\n`, { mode: 0o600 });
    const out = join(work, 'bob.wav');
    const r = await run(up, ['terminal', 'voicemail', '--id', 'bob@lab.example', '--key-file', keyFile, '--password', '-', '--sbc', sbc(), '--message', messageId, '--out', out], `${BOB_PW}\n`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const line = JSON.parse(r.stdout.trim()) as { event: string; messageId: string; caller: string; seconds: number; playsLeft: number | null };
    expect(line).toMatchObject({ event: 'message', messageId, playsLeft: 0 });
    expect(line.caller).toContain('alice@lab.example');
    for (const secret of [up.keys['bob@lab.example']!, BOB_PW, 'contentKey']) expect(r.stdout + r.stderr).not.toContain(secret);

    const { rate, samples } = readWav(out);
    expect(rate).toBe(8000);
    const seconds = samples.length / rate;
    expect(seconds).toBeCloseTo(line.seconds, 0);
    // recording starts after the greeting (about 1.2 s) and stops at "#": most of the hold, never more
    expect(seconds).toBeGreaterThan(HOLD - 2.5);
    expect(seconds).toBeLessThan(HOLD + 0.5);
    // the middle second: 440 Hz by zero crossings and almost all of its energy at 440 Hz (Goertzel)
    const mid = samples.subarray(Math.floor(samples.length / 2 - 4000), Math.floor(samples.length / 2 + 4000));
    expect(Math.abs(zeroCrossingHz(mid, rate) - 440)).toBeLessThan(10);
    expect(goertzelShare(mid, rate, 440)).toBeGreaterThan(0.8);
    expect(goertzelShare(mid, rate, 880)).toBeLessThan(0.05);

    const again = join(work, 'again.wav');
    const r2 = await run(up, ['terminal', 'voicemail', '--id', 'bob@lab.example', '--key-file', keyFile, '--password', BOB_PW, '--sbc', sbc(), '--message', messageId, '--out', again]);
    expect(r2.code, r2.stdout + r2.stderr).toBe(2);
    expect(JSON.parse(r2.stdout.trim())).toMatchObject({ event: 'failed', status: 403, error: expect.stringContaining('spent') });
    expect(existsSync(again)).toBe(false);
  }, 40_000);

  it('carol, with her own key and password, is refused bob\'s message (exit 2); a wrong password is refused too', async () => {
    const out = join(work, 'carol.wav');
    const r = await run(up, ['terminal', 'voicemail', '--id', 'carol@lab.example', '--key', '-', '--password', CAROL_PW, '--sbc', sbc(), '--message', messageId, '--out', out], `${up.keys['carol@lab.example']}\n`);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ event: 'failed', status: 404 });
    expect(existsSync(out)).toBe(false);
    const bad = join(work, 'bad.wav');
    const pwFile = join(work, 'wrong.pw');
    writeFileSync(pwFile, 'not-bobs-password\n');
    const r2 = await run(up, ['terminal', 'voicemail', '--id', 'bob@lab.example', '--key', up.keys['bob@lab.example']!, '--password-file', pwFile, '--sbc', sbc(), '--message', messageId, '--out', bad]);
    expect(r2.code, r2.stdout + r2.stderr).toBe(2);
    expect(JSON.parse(r2.stdout.trim())).toMatchObject({ event: 'failed', status: 401 });
  }, 30_000);

  it('--help answers for both commands; bad usage exits 1', async () => {
    const call = up.ks(['terminal', 'call', '--help']);
    expect(call.stdout).toContain('--tone <Hz>');
    expect(call.stdout).toContain('--dtmf <digits>');
    const vm = up.ks(['terminal', 'voicemail', '--help']);
    for (const f of ['--message <id>', '--out <file.wav>', '--password-file', '--licence-cert']) expect(vm.stdout).toContain(f);
    expect(up.ks(['terminal', 'voicemail', '--id', 'bob@lab.example', '--key', '11'.repeat(32), '--password', 'x', '--message', 'nope', '--out', join(work, 'x.wav')]).code).toBe(1);
    expect(up.ks(['terminal', 'call', '--id', 'alice@lab.example', '--key', '11'.repeat(32), '--to', 'bob@lab.example', '--dtmf', '#']).code).toBe(1);
    expect(up.ks(['terminal', 'call', '--id', 'alice@lab.example', '--key', '11'.repeat(32), '--to', 'bob@lab.example', '--tone', '440', '--dtmf', '#x']).code).toBe(1);
  });

  it('carol registered, her terminal then gone: the SBC answers 480 and alice\'s call to her is answered by voicemail through the SBC', async () => {
    // carol registers and answers (KS1 through the SBC, a TLS-PSK connection), then her process dies with the connection
    const keyFile = join(work, 'carol.key');
    writeFileSync(keyFile, `${up.keys['carol@lab.example']}\n`, { mode: 0o600 });
    const carol = spawn(process.execPath, [BIN, ...up.g, 'terminal', 'answer', '--id', 'carol@lab.example', '--key-file', keyFile, '--sbc', sbc(), '--calls', '1'], { env: { ...process.env, ...up.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      carol.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('"registered"')) resolve();
      });
      carol.once('exit', (c) => reject(new Error(`carol's terminal exited ${c}: ${out}`)));
    });
    carol.kill('SIGKILL');
    await new Promise((r) => carol.once('exit', r));
    const r = await run(up, ['terminal', 'call', '--id', 'alice@lab.example', '--key', '-', '--sbc', sbc(), '--to', 'carol@lab.example', '--hold', '2', '--timeout', '20'], `${up.keys['alice@lab.example']}\n`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string });
    expect(events.map((e) => e.event).filter((e) => e !== 'ringing')).toEqual(['registered', 'calling', 'answered', 'bye']);
  }, 40_000);

  it('an SBC that does not answer is a timeout: exit 1, no file', async () => {
    const [silent] = await freePorts(1);
    const out = join(work, 'timeout.wav');
    const r = await run(up, ['terminal', 'voicemail', '--id', 'bob@lab.example', '--key', up.keys['bob@lab.example']!, '--password', BOB_PW, '--sbc', `127.0.0.1:${silent}`, '--message', 'a'.repeat(32), '--out', out, '--timeout', '1']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ event: 'failed', authFailed: false });
    expect(r.stdout).toContain('timeout');
    expect(existsSync(out)).toBe(false);
  });
});
