/**
 * Where the MGCP, H.248 and H.323 relays send: one address per softswitch
 * instance, in the order of `sbc.softswitch`, so that entry i is the same
 * instance as the SIP pool's member i. A new command goes to the first member
 * alive; one that gets no answer within the no-answer time marks its member
 * down in the shared pool (the SIP side stops using it too) and goes to the
 * next one alive. Answers and commands from the core side are accepted from
 * any listed address (docs/scale-out.md).
 */
import { isIP } from 'node:net';
import { ConfigError } from '../config/load.js';
import type { SoftswitchMember, SoftswitchPool } from './softswitch-pool.js';
import type { SbcReplayState } from '../flow/sbc-state.js';
import type { Mechanism } from '../flow/messages.js';
import type { Logger } from '../log/logger.js';
import type { RelayIds } from './ids-relay.js';
import type { SessionTable } from './sessions.js';

export interface CoreAddress {
  readonly host: string;
  readonly port: number;
}

/** The liveness a relay shares with the SIP side (SoftswitchPool). */
export type SharedLiveness = Pick<SoftswitchPool, 'members' | 'order' | 'markDown'>;

/** What every gateway relay (MGCP, H.248, H.323 RAS) is given about the softswitches and the SBC itself. */
export interface GatewayRelayBase {
  /**
   * The softswitch's IP address (answers are matched by source address) and port; several: one per
   * softswitch instance, in the order of `pool`'s members (docs/scale-out.md).
   */
  softswitch: CoreAddress | readonly CoreAddress[];
  /** The SIP side's softswitch liveness: a new request goes to the first live member's entry; silence marks it down. */
  pool?: SharedLiveness;
  /** With a pool: how long a forwarded request may go unanswered before the next softswitch is tried (default 3000 ms). */
  noAnswerMs?: number;
  sbc: { idsp: string; ksp: Buffer; offered?: Mechanism[] };
  sessions?: SessionTable;
  /** The KS1 replay state shared by a pool's instances (Redis); in the process if absent. */
  replayState?: SbcReplayState;
  logger?: Logger;
  /** The intrusion detection (docs/ids.md): screens what gateways send, told registration outcomes. */
  ids?: RelayIds;
  /**
   * Commands sent to the softswitch and not yet answered at which a new registration (s1) is refused
   * (H.248 503, MGCP 409), so that the work already started is finished (0 or absent: no bound).
   * The SBC role gives overload.sbcMaxPending (docs/sbc.md, "Overload").
   */
  maxCorePending?: number;
  /**
   * A datagram waiting this long in the gateway socket, ms, counts as the SBC overloaded: a share of new
   * registrations is then refused the same way, growing while it lasts (GatewayGate; 0 or absent: off).
   * The SBC role gives overload.sbcGatewayWaitMs.
   */
  socketWaitHighMs?: number;
}

/**
 * A gateway protocol's softswitch list, aligned with `sbc.softswitch`: a missing
 * entry i is the SIP member i's host at the port of the protocol's first entry;
 * more entries than softswitches is an error (they would belong to no instance).
 */
export function alignGatewayList(list: readonly CoreAddress[], sip: readonly CoreAddress[], setting: string): CoreAddress[] {
  if (list.length === 0) throw new ConfigError(`${setting} must be set (host:port, comma-separated for several softswitches)`);
  if (list.length > sip.length) {
    throw new ConfigError(`${setting} lists ${list.length} addresses but sbc.softswitch ${sip.length}: give one per softswitch instance, in the same order`);
  }
  const port = list[0]!.port;
  return sip.map((s, i) => list[i] ?? { host: s.host, port });
}

const SILENT = Symbol('silent');

export class GatewaySoftswitches {
  readonly list: readonly CoreAddress[];
  readonly #pool: SharedLiveness | undefined;
  readonly #noAnswerMs: number;
  /** Listed IP addresses and their ports: a datagram's source is checked without a `host|port` string per datagram. */
  readonly #ips = new Map<string, Set<number>>();
  readonly #names: Set<number>;
  /** Commands moved to another softswitch after silence. */
  failovers = 0;
  /** Commands sent and not yet settled (answered, failed or given up on). */
  inFlight = 0;
  readonly #maxInFlight: number;

  /** `maxInFlight`: the relay's maxCorePending (0: no bound). */
  constructor(list: CoreAddress | readonly CoreAddress[], pool?: SharedLiveness, noAnswerMs = 3000, maxInFlight = 0) {
    this.#maxInFlight = maxInFlight;
    this.list = Array.isArray(list) ? [...(list as readonly CoreAddress[])] : [list as CoreAddress];
    if (this.list.length === 0) throw new RangeError('no softswitch address');
    this.#pool = pool && this.list.length > 1 ? pool : undefined;
    this.#noAnswerMs = noAnswerMs;
    // An entry given as a name is matched by port alone (as before: its source address is not known here).
    for (const a of this.list) {
      if (isIP(a.host) === 0) continue;
      let ports = this.#ips.get(a.host);
      if (!ports) this.#ips.set(a.host, (ports = new Set()));
      ports.add(a.port);
    }
    this.#names = new Set(this.list.filter((a) => isIP(a.host) === 0).map((a) => a.port));
  }

  /** Whether the commands unanswered have reached the bound: a new registration is then refused (docs/sbc.md, "Overload"). */
  full(): boolean {
    return this.#maxInFlight > 0 && this.inFlight >= this.#maxInFlight;
  }

  /** Is a datagram from this source one of the listed softswitches'? */
  isMember(host: string, port: number): boolean {
    return this.#ips.get(host)?.has(port) === true || this.#names.has(port);
  }

  /** Where a new command goes now (the first live member's entry). */
  current(): CoreAddress {
    return this.#next(new Set())?.to ?? this.list[0]!;
  }

  #next(tried: Set<number>): { to: CoreAddress; member: SoftswitchMember; index: number } | undefined {
    const pool = this.#pool;
    if (!pool) return undefined;
    for (const m of pool.order()) {
      const index = pool.members.indexOf(m);
      if (index < 0 || index >= this.list.length || tried.has(index)) continue;
      return { to: this.list[index]!, member: m, index };
    }
    return undefined;
  }

  /**
   * Sends through `send` to the first live member; when its outcome is not
   * `answered` within the no-answer time, that member is marked down and the
   * command goes to the next one. The last one left is waited for to the end.
   */
  send<R>(send: (to: CoreAddress) => Promise<R>, answered: (r: R) => boolean): Promise<R> {
    this.inFlight++;
    const settled = (): void => void this.inFlight--;
    const r = this.#send(send, answered);
    r.then(settled, settled);
    return r;
  }

  async #send<R>(send: (to: CoreAddress) => Promise<R>, answered: (r: R) => boolean): Promise<R> {
    const pool = this.#pool;
    if (!pool) return send(this.list[0]!);
    const tried = new Set<number>();
    for (;;) {
      const n = this.#next(tried)!;
      tried.add(n.index);
      const attempt = send(n.to);
      if (!this.#next(tried)) return attempt;
      let timer: NodeJS.Timeout | undefined;
      const quiet = new Promise<typeof SILENT>((resolve) => {
        timer = setTimeout(() => resolve(SILENT), this.#noAnswerMs);
      });
      const r = await Promise.race([attempt, quiet]).finally(() => clearTimeout(timer));
      if (r !== SILENT && answered(r)) return r;
      pool.markDown(n.member, r === SILENT ? 'no answer to a gateway command' : 'a gateway command went unanswered');
      this.failovers++;
    }
  }
}
