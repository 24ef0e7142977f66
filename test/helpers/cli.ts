import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'keyswitch.js');

export function ks(args: string[], env: NodeJS.ProcessEnv = {}, input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, input, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `ks` without blocking the worker, so that tests that wait out deadlines can run at once (it.concurrent). */
export function ksAsync(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<ReturnType<typeof ks>> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    proc.stdin!.end(input);
    // as spawnSync's timeout in ks: killed, its code is null
    const timer = setTimeout(() => proc.kill('SIGTERM'), 60_000);
    proc.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Daemon {
  proc: ChildProcess;
  output: () => string;
  /** What it wrote on stderr alone (its log, for a role). */
  stderr: () => string;
  stop(): Promise<number | null>;
}

/** Starts a long-running keyswitch command and waits until its output matches `ready`. */
export async function startDaemon(args: string[], ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<{ daemon: Daemon; match: RegExpMatchArray }> {
  const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const daemon: Daemon = {
    proc,
    output: () => out,
    stderr: () => err,
    stop: () =>
      new Promise((resolve) => {
        // A process killed by a signal has exitCode null and a signalCode: it will not exit again.
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve(proc.exitCode);
        proc.once('exit', (code) => resolve(code));
        proc.kill('SIGTERM');
      }),
  };
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      // A daemon that never became ready must not outlive the test run.
      proc.kill('SIGKILL');
      reject(new Error(`daemon not ready in 30 s; output:\n${out}`));
    }, 30_000);
    const onData = (d: Buffer) => {
      out += d.toString('utf8');
      const m = out.match(ready);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code}; output:\n${out}`));
    });
  });
  return { daemon, match };
}
