/**
 * What `/healthz` answers: every listener of the process, the store and the
 * free space of the data directory. A role registers each listener it
 * starts; runRoles adds the store and disk checks. One Health per process,
 * so that `keyswitch up` answers for all its roles at one address.
 */
import { statfs } from 'node:fs/promises';

export interface HealthProblem {
  /** What is down: a listener's name, `store` or `disk`. */
  part: string;
  address?: string;
  reason: string;
}

export interface HealthReport {
  ok: boolean;
  /** Listeners registered and up. */
  listeners: number;
  down: HealthProblem[];
}

export interface ListenerHealth {
  /** This listener no longer serves (closed, or its socket failed). */
  down(reason: string): void;
}

interface ListenerEntry {
  name: string;
  address: string;
  downReason: string | undefined;
  /** Asks the socket itself where it can (net.Server#listening). */
  probe: (() => boolean) | undefined;
}

/** A check resolves to a reason when its part is down, undefined when ok. */
export type HealthCheck = () => Promise<string | undefined>;

/** A check that has not answered after this long counts as down (a hung database is down). */
const CHECK_TIMEOUT_MS = 2000;

export class Health {
  readonly #listeners: ListenerEntry[] = [];
  readonly #checks: { part: string; run: HealthCheck }[] = [];
  readonly #remotes: (() => Promise<HealthReport>)[] = [];

  /** Registers a started listener; `probe` is asked on every report when given. */
  listener(name: string, address: string, probe?: () => boolean): ListenerHealth {
    const e: ListenerEntry = { name, address, downReason: undefined, probe };
    this.#listeners.push(e);
    return {
      down(reason) {
        e.downReason ??= reason;
      },
    };
  }

  check(part: string, run: HealthCheck): void {
    this.#checks.push({ part, run });
  }

  /**
   * Another process's listeners and checks, counted in this one's report:
   * under `keyswitch up` each role runs in its own process and every
   * /healthz answers for all of them (src/cli/up-supervisor.ts).
   */
  remote(source: () => Promise<HealthReport>): void {
    this.#remotes.push(source);
  }

  /** `local`: this process's parts only (what a remote asks for). */
  async report(o: { local?: boolean } = {}): Promise<HealthReport> {
    const down: HealthProblem[] = [];
    let up = 0;
    for (const l of this.#listeners) {
      const reason = l.downReason ?? (l.probe && !l.probe() ? 'not listening' : undefined);
      if (reason) down.push({ part: l.name, address: l.address, reason });
      else up++;
    }
    const results = await Promise.all(this.#checks.map(async (c) => ({ part: c.part, reason: await withTimeout(c.run) })));
    for (const r of results) if (r.reason) down.push({ part: r.part, reason: r.reason });
    if (!o.local && this.#remotes.length) {
      const remote = await Promise.all(this.#remotes.map((source) => remoteReport(source)));
      for (const r of remote) {
        up += r.listeners;
        // the store and the disk are checked by each process: one entry each
        for (const d of r.down) if (!down.some((x) => x.part === d.part && x.address === d.address)) down.push(d);
      }
    }
    return { ok: down.length === 0, listeners: up, down };
  }
}

async function remoteReport(source: () => Promise<HealthReport>): Promise<HealthReport> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      source().catch((): HealthReport => ({ ok: false, listeners: 0, down: [{ part: 'roles', reason: 'no answer from the other roles' }] })),
      new Promise<HealthReport>((resolve) => {
        timer = setTimeout(() => resolve({ ok: false, listeners: 0, down: [{ part: 'roles', reason: `no answer from the other roles within ${CHECK_TIMEOUT_MS} ms` }] }), CHECK_TIMEOUT_MS + 500);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function withTimeout(run: HealthCheck): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      run().catch((err: unknown) => `check failed: ${(err as { code?: string })?.code ?? 'error'}`),
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve(`no answer within ${CHECK_TIMEOUT_MS} ms`), CHECK_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Free space of the filesystem holding `dir` against a floor in MiB (0: not
 * checked). A full disk stops SQLite commits and generated secrets, so it is
 * a reason to be taken out of service before writes start failing.
 */
export function diskCheck(dir: string, minFreeMb: number): HealthCheck {
  return async () => {
    if (minFreeMb <= 0) return undefined;
    let freeMb: number;
    try {
      const s = await statfs(dir);
      freeMb = (Number(s.bavail) * Number(s.bsize)) / (1024 * 1024);
    } catch (err) {
      return `cannot read the free space of ${dir} (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
    }
    return freeMb < minFreeMb ? `${Math.floor(freeMb)} MiB free on the filesystem of ${dir}, below the ${minFreeMb} MiB floor (health.minFreeMb)` : undefined;
  };
}

/** The JSON and status of a `/healthz` answer: 200 when everything is up, 503 naming what is down. */
export async function healthAnswer(health: Pick<Health, 'report'>, extra: Record<string, unknown> = {}): Promise<{ status: 200 | 503; body: Record<string, unknown> }> {
  const r = await health.report();
  return { status: r.ok ? 200 : 503, body: { status: r.ok ? 'ok' : 'unavailable', ...extra, listeners: r.listeners, down: r.down } };
}

/** A listener that failed to start: the message names it and the address it wanted, on one line. */
export class ListenerError extends Error {
  constructor(
    readonly listener: string,
    readonly address: string,
    readonly code: string | undefined,
  ) {
    super(`${listener} cannot listen on ${address}: ${describeCode(code)}`);
    this.name = 'ListenerError';
  }
}

function describeCode(code: string | undefined): string {
  switch (code) {
    case 'EADDRINUSE':
      return 'address already in use (EADDRINUSE)';
    case 'EACCES':
      return 'permission denied (EACCES)';
    case 'EADDRNOTAVAIL':
      return 'address not available on this host (EADDRNOTAVAIL)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host name does not resolve (${code})`;
    default:
      return code ? `failed (${code})` : 'failed';
  }
}

/**
 * Starts one listener under its name: a failure becomes a ListenerError
 * naming it and the exact address that was refused (the socket's error says
 * which, e.g. the accounting port of a RADIUS pair), on one line.
 */
export async function startListener<T>(name: string, address: string, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    if (err instanceof ListenerError) throw err;
    const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
    const where = e.address !== undefined && e.port !== undefined ? `${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}${protocolOf(address)}` : address;
    throw new ListenerError(name, where, e.code ?? firstLine(e.message));
  }
}

/** ` (udp)` when the configured address says the protocol. */
function protocolOf(address: string): string {
  const m = /\((udp|tcp|tls|tls-psk|http)\)$/.exec(address);
  return m ? ` (${m[1]})` : '';
}

function firstLine(s: string | undefined): string | undefined {
  return s ? s.split('\n')[0]!.slice(0, 200) : undefined;
}

/** `host:port (proto)` with IPv6 hosts in brackets. */
export function listenAddress(host: string, port: number | string, protocol?: string): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return `${h}:${port}${protocol ? ` (${protocol})` : ''}`;
}
