import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEYSWITCH_DICTIONARY } from '../../src/radius/dictionary.js';

export function hasBinary(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

/** A radclient dictionary dir: FreeRADIUS's standard dictionaries plus ours. */
export function radclientDictionaryDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ks-radclient-'));
  writeFileSync(join(dir, 'dictionary'), `$INCLUDE /usr/share/freeradius/dictionary\n$INCLUDE ${KEYSWITCH_DICTIONARY}\n`);
  return dir;
}

/** A Wireshark config dir whose personal RADIUS dictionary adds ours (Wireshark resolves $INCLUDE relative to it). */
export function wiresharkConfigDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ks-wireshark-'));
  mkdirSync(join(dir, 'radius'));
  copyFileSync(KEYSWITCH_DICTIONARY, join(dir, 'radius', 'dictionary.keyswitch'));
  writeFileSync(join(dir, 'radius', 'dictionary'), '$INCLUDE dictionary.keyswitch\n');
  return dir;
}

/** Runs a tool without blocking the event loop (our server answers from this process). */
export function run(cmd: string, args: string[], input = '', env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
    child.stdin.end(input);
  });
}
