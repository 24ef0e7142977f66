/**
 * Against `keyswitch up`: a third party who saw a ringing INVITE (its branch and sent-by,
 * Call-ID, tags, CSeq) sends the CANCEL copied from it, from another UDP port of the
 * same host and from another host. RFC 3261 §9.2 would match it; the SBC takes a CANCEL
 * only from the flow of the INVITE it cancels, so it answers 481, the callee keeps
 * ringing, and the call is answered and ends with the caller's own BYE.
 */
import { spawn } from 'node:child_process';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { startUp, type Up } from '../helpers/up.js';
import { startAttacker, type Attacker } from './attacker.js';
import type { CallEvent } from '../../src/terminal/call.js';

interface Run {
  events: CallEvent[];
  saw(event: string): Promise<CallEvent>;
  exit: Promise<number | null>;
  kill(): void;
}

/** A `keyswitch terminal …` process; its JSON lines are parsed as they come. */
function terminal(args: string[], env: NodeJS.ProcessEnv): Run {
  const proc = spawn(process.execPath, [BIN, 'terminal', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: CallEvent[] = [];
  const waiters: Array<{ event: string; resolve: (e: CallEvent) => void }> = [];
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        const e = JSON.parse(line) as CallEvent;
        events.push(e);
        for (const w of waiters.filter((x) => x.event === e.event)) w.resolve(e);
      } catch {
        // not an event line
      }
    }
  });
  proc.stderr!.resume();
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    events,
    saw: (event) => {
      const had = events.find((e) => e.event === event);
      if (had) return Promise.resolve(had);
      return new Promise<CallEvent>((resolve, reject) => {
        waiters.push({ event, resolve });
        void exit.then((code) => reject(new Error(`terminal exited (${code}) before "${event}": ${JSON.stringify(events)}`)));
      });
    },
    exit,
    kill: () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
    },
  };
}

/**
 * Where the eavesdropper listens: a UDP relay between the caller and the SBC that passes
 * everything on unchanged and keeps a copy of each INVITE the caller sends.
 */
async function tap(sbcPort: number) {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const invites: string[] = [];
  let caller: RemoteInfo | undefined;
  sock.on('message', (b, from) => {
    if (from.address === '127.0.0.1' && from.port === sbcPort) {
      if (caller) sock.send(b, caller.port, caller.address);
      return;
    }
    caller = from;
    const text = b.toString('utf8');
    if (text.startsWith('INVITE ')) invites.push(text);
    sock.send(b, sbcPort, '127.0.0.1');
  });
  return { port: sock.address().port, invites, close: () => sock.close() };
}

/** The CANCEL for a captured INVITE (RFC 3261 §9.1): its Request-URI, top Via, Call-ID, From, To and CSeq number. */
function cancelFor(invite: string): string {
  const lines = invite.split('\r\n');
  const head = (name: RegExp) => lines.find((l) => name.test(l))!;
  const seq = /^CSeq:\s*(\d+)/i.exec(head(/^CSeq:/i))![1];
  return [
    lines[0]!.replace(/^INVITE /, 'CANCEL '),
    head(/^(Via|v):/i),
    'Max-Forwards: 70',
    head(/^(From|f):/i),
    head(/^(To|t):/i),
    head(/^(Call-ID|i):/i),
    `CSeq: ${seq} CANCEL`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

describe('a third party cannot cancel a ringing call through `keyswitch up`', () => {
  const keys: Record<string, string> = {};
  let env: NodeJS.ProcessEnv;
  let sbcPort: number;
  let up: Up | undefined;
  const runs: Run[] = [];
  const closers: Array<() => unknown> = [];

  beforeAll(async () => {
    up = await startUp({ terminals: ['alice@lab.example', 'bob@lab.example'], prefix: 'ks-cancel-' });
    env = up.env;
    sbcPort = up.ports.sbcSip!;
    for (const [idc, key] of Object.entries(up.keys)) keys[idc.split('@')[0]!] = key;
  }, 60_000);
  afterAll(async () => {
    for (const r of runs) r.kill();
    for (const c of closers) await c();
    await up?.stop();
  });

  it('a CANCEL copied from the INVITE, from another port and another host, gets 481; the call is answered and ends normally', async () => {
    const mechs = ['--mechs', 'app-hmac;q=0.5', '--transport', 'udp'];
    // bob rings for 4 s before answering: the window the attacker uses
    const bob = terminal(['answer', '--id', 'bob@lab.example', '--key', keys.bob!, '--sbc', `127.0.0.1:${sbcPort}`, '--calls', '1', '--timeout', '40', '--ring', '4000', ...mechs], env);
    runs.push(bob);
    await bob.saw('registered');
    const wire = await tap(sbcPort);
    closers.push(() => wire.close());
    const alice = terminal(['call', '--id', 'alice@lab.example', '--key', keys.alice!, '--sbc', `127.0.0.1:${wire.port}`, '--to', 'bob@lab.example', '--hold', '1', '--timeout', '20', ...mechs], env);
    runs.push(alice);
    await alice.saw('ringing');
    const invite = wire.invites.at(-1)!;
    expect(invite).toMatch(/branch=z9hG4bK/);

    const attackers: Attacker[] = [await startAttacker(sbcPort, '127.0.0.1'), await startAttacker(sbcPort, '127.0.0.2')];
    for (const a of attackers) closers.push(() => a.close());
    const answers: Array<number | undefined> = [];
    for (const a of attackers) answers.push((await a.ask(cancelFor(invite), 3000))?.status);
    expect(answers).toEqual([481, 481]);

    // the callee was never told of a CANCEL: it answers after ringing, and the caller completes the call
    expect(await alice.exit).toBe(0);
    expect(alice.events.map((e) => e.event)).toEqual(['registered', 'calling', 'ringing', 'answered', 'bye']);
    expect(alice.events.at(-1)).toMatchObject({ event: 'bye', by: 'local', status: 200 });
    expect(await bob.exit).toBe(0);
    expect(bob.events.map((e) => e.event)).toEqual(['registered', 'incoming', 'ringing', 'answered', 'confirmed', 'bye']);
  }, 60_000);
});
