/**
 * `keyswitch terminal register`: registers one terminal, or N provisioned ones
 * at a rate, and prints one JSON line per registration (never a key).
 * Commander-agnostic: main.ts maps its flags onto TerminalRegisterOptions.
 */
import { readFileSync } from 'node:fs';
import { parseCsv } from '../auc/csv.js';
import { registerGateway, type AnyRegisterResult as GatewayOrSip } from '../terminal/gateway-register.js';
import { registerH323, type H323Result } from '../terminal/h323-endpoint.js';
import { registerSip } from '../terminal/register.js';
import { DEFAULT_DEADLINE_MS, exitSoonAfterDeadline } from '../terminal/deadline.js';
import { SIP_PORT } from '../sip/proxy/ports.js';

export interface TerminalRegisterOptions {
  /** sip, mgcp, h248 or h323. */
  proto: string;
  /** IDc, for a single registration. */
  id?: string;
  /** Kc as 64 hex digits (or 43 base64url characters), for a single registration. */
  key?: string;
  /** The SBC: `host:port`, `[v6]:port` or `host` (port 5060). */
  sbc: string;
  /** Mechanism list with priorities; default `tls-psk;q=0.5, app-hmac;q=0.3, tls;q=0.2`. */
  mechs?: string;
  /** udp (default) or tcp for the KS1 registration. */
  transport?: string;
  count?: number | string;
  /** Registrations started per second (default 10). */
  rate?: number | string;
  /** CSV `idc,key` (as `keyswitch import --keys-out` writes it). */
  keysFile?: string;
  /** The SBC's identity, if the terminal should insist on it. */
  idsp?: string;
  /** PEM file of the SBC certificate (or its CA) for the `tls` mechanism. */
  caFile?: string;
  /** Seconds each registration may take, from its first message to the proof of its mechanism (default 10). */
  timeout?: number | string;
  /** Where lines go (tests); default stdout / stderr. */
  out?: (line: string) => void;
  err?: (line: string) => void;
}

export const DEFAULT_MECHS = 'tls-psk;q=0.5, app-hmac;q=0.3, tls;q=0.2';

class UsageError extends Error {}

export async function runTerminalRegister(o: TerminalRegisterOptions): Promise<number> {
  const out = o.out ?? ((l: string) => void process.stdout.write(l + '\n'));
  const err = o.err ?? ((l: string) => void process.stderr.write(l + '\n'));
  try {
    const proto = o.proto;
    if (proto !== 'sip' && proto !== 'mgcp' && proto !== 'h248' && proto !== 'h323') throw new UsageError(`--proto must be sip, mgcp, h248 or h323, not "${proto}"`);
    const sbc = parseHostPort(o.sbc, DEFAULT_PORT[proto]);
    const transport = (o.transport ?? 'udp').toLowerCase();
    if (transport !== 'udp' && transport !== 'tcp') throw new UsageError('--transport must be udp or tcp');
    const mechs = o.mechs ?? (proto === 'sip' ? DEFAULT_MECHS : 'app-hmac;q=0.5');
    const ca = o.caFile ? readFileSync(o.caFile, 'utf8') : undefined;
    const count = o.count === undefined ? undefined : positiveInt(o.count, '--count');
    const rate = o.rate === undefined ? 10 : positiveNumber(o.rate, '--rate');
    const deadlineMs = deadlineOf(o.timeout);
    let terminals: Array<{ idc: string; kc: Buffer }>;
    if (count !== undefined || o.keysFile) {
      if (!o.keysFile) throw new UsageError('--count needs --keys-file (CSV idc,key)');
      terminals = readKeys(o.keysFile);
      if (count !== undefined) {
        if (count > terminals.length) throw new UsageError(`--count ${count} but ${o.keysFile} holds ${terminals.length} terminals`);
        terminals = terminals.slice(0, count);
      }
    } else {
      if (!o.id || !o.key) throw new UsageError('give --id and --key, or --keys-file');
      terminals = [{ idc: o.id, kc: parseKey(o.key) }];
    }
    const one = (t: { idc: string; kc: Buffer }): Promise<AnyRegisterResult> =>
      proto === 'h323'
        ? registerH323({ idc: t.idc, kc: t.kc, sbc, mechs, deadlineMs, ...(o.idsp ? { idsp: o.idsp } : {}) })
        : proto !== 'sip'
        ? registerGateway({ proto, idc: t.idc, kc: t.kc, sbc, mechs, deadlineMs, ...(o.idsp ? { idsp: o.idsp } : {}) })
        : registerSip({
        idc: t.idc, kc: t.kc, mechs, transport: transport as 'udp' | 'tcp', sbc, deadlineMs,
        ...(o.idsp ? { idsp: o.idsp } : {}),
        tls: ca ? { ca, ...(o.idsp ? { servername: o.idsp } : {}) } : {},
      });
    const results: AnyRegisterResult[] = [];
    const print = (r: AnyRegisterResult): void => {
      results.push(r);
      out(JSON.stringify(r.ok
        ? { ok: true, protocol: r.protocol, idc: r.idc, idsp: r.idsp, mechanism: r.mechanism, sessionKeyId: r.sessionKeyId, ms: r.ms }
        : { ok: false, protocol: r.protocol, idc: r.idc, error: r.error, authFailed: r.authFailed, ...('status' in r && r.status !== undefined ? { status: r.status } : {}), ms: r.ms }));
    };
    if (terminals.length === 1) print(await one(terminals[0]!));
    else await paced(terminals, rate, one, (r) => {
      print(r);
      const ok = results.filter((x) => x.ok).length;
      err(`registered ${results.length}/${terminals.length} ok=${ok} failed=${results.length - ok}`);
    });
    if (results.every((r) => r.ok)) return 0;
    const code = results.every((r) => r.ok || r.authFailed) ? 2 : 1;
    if (!o.out && results.some((r) => !r.ok && r.error.startsWith('timeout:'))) exitSoonAfterDeadline(() => code);
    return code;
  } catch (e) {
    err(`error: ${e instanceof UsageError ? e.message : (e as Error).message ?? String(e)}`);
    return 1;
  }
}

/** Starts one job every 1/rate seconds; resolves when all are done. */
async function paced<T, R>(items: T[], rate: number, job: (t: T) => Promise<R>, done: (r: R) => void): Promise<void> {
  const start = performance.now();
  const running: Array<Promise<void>> = [];
  for (let i = 0; i < items.length; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    running.push(job(items[i]!).then(done));
  }
  await Promise.all(running);
}

const DEFAULT_PORT = { sip: SIP_PORT, mgcp: 2727, h248: 2944, h323: 1719 } as const;

type AnyRegisterResult = GatewayOrSip | H323Result;

export function parseHostPort(s: string, defaultPort = SIP_PORT): { host: string; port: number } {
  const m = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/.exec(s) ?? /^([^:[\]]+)(?::(\d{1,5}))?$/.exec(s);
  if (!m) throw new UsageError(`--sbc: expected host:port, got "${s}"`);
  const port = m[2] ? Number(m[2]) : defaultPort;
  if (port < 1 || port > 65535) throw new UsageError('--sbc: port out of range');
  return { host: m[1]!, port };
}

/** Kc from 64 hex digits or unpadded base64url; the message never echoes the value. */
export function parseKey(s: string): Buffer {
  const t = s.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9_-]{43}$/.test(t)) {
    const b = Buffer.from(t, 'base64url');
    if (b.length === 32) return b;
  }
  throw new UsageError('key must be 32 bytes as 64 hex digits or 43 base64url characters');
}

/** `idc,key` lines with an optional header, read with the import's RFC 4180 reader. */
export function readKeys(file: string): Array<{ idc: string; kc: Buffer }> {
  const out: Array<{ idc: string; kc: Buffer }> = [];
  parseCsv(readFileSync(file, 'utf8')).forEach(({ line, fields: f }, i) => {
    if (f.every((x) => !x.trim())) return;
    if (i === 0 && f[0]?.trim().toLowerCase() === 'idc') return;
    if (f.length < 2 || !f[0]) throw new UsageError(`${file}:${line}: expected idc,key`);
    try {
      out.push({ idc: f[0], kc: parseKey(f[1]!) });
    } catch {
      throw new UsageError(`${file}:${line}: bad key`);
    }
  });
  return out;
}

function positiveInt(v: number | string, name: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer`);
  return n;
}

/** `--timeout` in seconds (default 10) as milliseconds. */
export function deadlineOf(v: number | string | undefined): number {
  if (v === undefined) return DEFAULT_DEADLINE_MS;
  return Math.round(positiveNumber(v, '--timeout') * 1000);
}

function positiveNumber(v: number | string, name: string): number {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new UsageError(`${name} must be a positive number`);
  return n;
}
