/**
 * `keyswitch terminal call` and `keyswitch terminal answer`: register a SIP
 * terminal through the SBC, then place a call (INVITE, wait for the answer,
 * ACK, hold, BYE) or answer incoming ones, printing one JSON line per event
 * (never a key). Commander-agnostic: main.ts maps its flags onto these options.
 * Exit codes: 0 ok, 2 authentication failed, 1 anything else.
 */
import { readFileSync } from 'node:fs';
import { answerCalls, placeCall, type CallEvent } from '../terminal/call.js';
import { DEFAULT_MECHS, deadlineOf, parseHostPort, parseKey } from './terminal.js';
import { exitSoonAfterDeadline } from '../terminal/deadline.js';
import { SIP_PORT } from '../sip/proxy/ports.js';

export interface TerminalCallCommonOptions {
  /** Only `sip` places calls. */
  proto: string;
  /** IDc. */
  id: string;
  /** Kc: 64 hex digits or 43 base64url characters. */
  key: string;
  /** The SBC: `host:port`, `[v6]:port` or `host`. */
  sbc: string;
  mechs?: string;
  /** udp (default) or tcp for the KS1 registration. */
  transport?: string;
  idsp?: string;
  /** PEM of the SBC certificate (or its CA) for the `tls` mechanism. */
  caFile?: string;
  out?: (line: string) => void;
  err?: (line: string) => void;
}

export interface TerminalCallOptions extends TerminalCallCommonOptions {
  /** Callee, `bob@lab.example`. */
  to: string;
  /** Seconds to hold the call before BYE (default 5). */
  hold?: number | string;
  /** Seconds each exchange with the SBC may take: registration, the INVITE's first answer, the BYE (default 10). */
  timeout?: number | string;
  /** Send G.711 RTP of this tone (Hz) for the hold time. */
  tone?: number | string;
  /** Then these DTMF digits as RFC 4733 events (needs --tone). */
  dtmf?: string;
}

export interface TerminalAnswerOptions extends TerminalCallCommonOptions {
  /** Calls to answer before exiting (default 1). */
  calls?: number | string;
  /** Seconds to wait for them (default: forever); the registration gets at most 10 s, or this if shorter. */
  timeout?: number | string;
  /** Milliseconds of ringing before answering (default 0). */
  ring?: number | string;
  /** Seconds after answering to hang up (BYE) each call; absent: the caller hangs up. */
  hangUp?: number | string;
}

class UsageError extends Error {}

function common(o: TerminalCallCommonOptions) {
  if (o.proto !== 'sip') throw new UsageError(`--proto must be sip for calls, not "${o.proto}"`);
  if (!o.id || !o.key) throw new UsageError('give --id and --key');
  const transport = (o.transport ?? 'udp').toLowerCase();
  if (transport !== 'udp' && transport !== 'tcp') throw new UsageError('--transport must be udp or tcp');
  const ca = o.caFile ? readFileSync(o.caFile, 'utf8') : undefined;
  return {
    idc: o.id,
    kc: parseKey(o.key),
    sbc: parseHostPort(o.sbc, SIP_PORT),
    transport: transport as 'udp' | 'tcp',
    mechs: o.mechs ?? DEFAULT_MECHS,
    ...(o.idsp ? { idsp: o.idsp } : {}),
    tls: ca ? { ca, ...(o.idsp ? { servername: o.idsp } : {}) } : {},
  };
}

function nonNegative(v: number | string | undefined, name: string, dflt: number | undefined): number | undefined {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${name} must be a number ≥ 0`);
  return n;
}

function printer(o: TerminalCallCommonOptions): (e: CallEvent) => void {
  const out = o.out ?? ((l: string) => void process.stdout.write(l + '\n'));
  return (e) => out(JSON.stringify({ ...e, t: new Date().toISOString() }));
}

/** Whether a deadline ended the command (then the CLI makes sure the process ends too). */
const timedOut = new WeakSet<TerminalCallCommonOptions>();

function timeouts(o: TerminalCallCommonOptions): (e: CallEvent) => void {
  const print = printer(o);
  return (e) => {
    if (e.event === 'failed' && e.error.startsWith('timeout:')) timedOut.add(o);
    print(e);
  };
}

function afterDeadline(o: TerminalCallCommonOptions, code: number): number {
  if (!o.out && timedOut.has(o)) exitSoonAfterDeadline(() => code);
  return code;
}

function callMedia(o: TerminalCallOptions): { toneHz: number; dtmf: string } | undefined {
  if (o.tone === undefined) {
    if (o.dtmf !== undefined) throw new UsageError('--dtmf needs --tone (the keys go on the RTP stream)');
    return undefined;
  }
  const toneHz = Number(o.tone);
  if (!Number.isFinite(toneHz) || toneHz < 0 || toneHz >= 4000) throw new UsageError('--tone must be a frequency in Hz from 0 (silence) to below 4000');
  const dtmf = o.dtmf ?? '';
  if (!/^[0-9*#A-Da-d]{0,32}$/.test(dtmf)) throw new UsageError('--dtmf must be up to 32 of 0-9 * # A-D');
  return { toneHz, dtmf: dtmf.toUpperCase() };
}

export async function runTerminalCall(o: TerminalCallOptions): Promise<number> {
  const err = o.err ?? ((l: string) => void process.stderr.write(l + '\n'));
  try {
    const c = common(o);
    if (!o.to || !/^[^@\s]+@[^@\s]+$/.test(o.to)) throw new UsageError('--to must be user@domain');
    const hold = nonNegative(o.hold, '--hold', 5)!;
    const deadlineMs = deadlineOf(o.timeout);
    const media = callMedia(o);
    return afterDeadline(o, await placeCall({ ...c, to: o.to, holdSeconds: hold, deadlineMs, ...(media ? { media } : {}), onEvent: timeouts(o) }));
  } catch (e) {
    err(`error: ${(e as Error).message ?? String(e)}`);
    return 1;
  }
}

export async function runTerminalAnswer(o: TerminalAnswerOptions): Promise<number> {
  const err = o.err ?? ((l: string) => void process.stderr.write(l + '\n'));
  try {
    const c = common(o);
    const calls = nonNegative(o.calls, '--calls', 1)!;
    if (!Number.isInteger(calls) || calls < 1) throw new UsageError('--calls must be a positive integer');
    const timeout = nonNegative(o.timeout, '--timeout', undefined);
    const ring = nonNegative(o.ring, '--ring', 0)!;
    const hangUp = nonNegative(o.hangUp, '--hang-up', undefined);
    const registerDeadlineMs = Math.min(deadlineOf(undefined), timeout !== undefined && timeout > 0 ? timeout * 1000 : Infinity);
    return afterDeadline(o, await answerCalls({ ...c, calls, ...(timeout !== undefined ? { timeoutSeconds: timeout } : {}), ringMs: ring, ...(hangUp !== undefined ? { hangUpSeconds: hangUp } : {}), registerDeadlineMs, onEvent: timeouts(o) }));
  } catch (e) {
    err(`error: ${(e as Error).message ?? String(e)}`);
    return 1;
  }
}
