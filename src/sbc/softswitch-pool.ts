/**
 * The softswitches an SBC forwards to (`sbc.softswitch`, in order) and which of them are
 * alive. A softswitch is marked down when a request forwarded to it gets no answer at all
 * within the no-answer time (or cannot be sent), and up again when it answers an OPTIONS
 * ping; pings go to down members only, every probe interval. Liveness only orders the
 * members: nothing is ever refused because all look down (docs/scale-out.md).
 */
import type { Logger } from 'pino';
import { createRequest, randomToken, type SipStack, type SipTransport } from '../sip/index.js';
import { hostPortKey } from '../sip/proxy/own-addresses.js';
import type { RelayBranch } from '../sip/proxy/relay.js';

export interface SoftswitchMember {
  readonly host: string;
  readonly port: number;
  /** `host:port` as OwnAddresses writes it. */
  readonly key: string;
  /** The member as a relay branch over the core link. */
  readonly branch: RelayBranch;
  up: boolean;
  probing: boolean;
}

export interface SoftswitchPoolOptions {
  /** Asks a member whether it is alive (an OPTIONS ping); resolves false on no answer. */
  probe?: (m: SoftswitchMember) => Promise<boolean>;
  /** How often down members are pinged; 0: never (they stay down until a request they get is answered). */
  probeMs?: number;
  logger?: Logger | undefined;
}

export class SoftswitchPool {
  readonly members: readonly SoftswitchMember[];
  readonly #addresses: Set<string>;
  readonly #byKey = new Map<string, SoftswitchMember>();
  readonly #o: SoftswitchPoolOptions;
  #timer: NodeJS.Timeout | undefined;
  /** Times a member was marked down (stats). */
  failovers = 0;

  constructor(list: ReadonlyArray<{ host: string; port: number }>, transport: SipTransport, o: SoftswitchPoolOptions = {}) {
    if (list.length === 0) throw new Error('sbc: no softswitch configured');
    const protocol = transport.protocol === 'tcp' ? 'tcp' : 'udp';
    this.members = list.map((s) => ({
      host: s.host, port: s.port, key: hostPortKey(s.host, s.port), up: true, probing: false,
      branch: { destination: { address: s.host, port: s.port, protocol }, transport },
    }));
    for (const m of this.members) this.#byKey.set(m.key, m);
    this.#addresses = new Set(list.map((s) => s.host.toLowerCase()));
    this.#o = o;
  }

  get size(): number {
    return this.members.length;
  }

  /** The first member (the core-side binding is made toward it; the gateway relays follow `order()`, gateway-softswitches.ts). */
  get first(): SoftswitchMember {
    return this.members[0]!;
  }

  /** Is a request from this address one of our softswitches'? */
  isMemberAddress(address: string): boolean {
    return this.#addresses.has(address.toLowerCase());
  }

  /** The member a URI's `host:port` names, if any. */
  member(host: string, port: number | undefined): SoftswitchMember | undefined {
    return this.#byKey.get(hostPortKey(host, port));
  }

  /**
   * The members to try, in order: `preferred` first when it is up (the softswitch a dialog's
   * route names), then those up in configured order, then those marked down.
   */
  order(preferred?: SoftswitchMember): SoftswitchMember[] {
    const out: SoftswitchMember[] = [];
    if (preferred?.up) out.push(preferred);
    for (const m of this.members) if (m.up && m !== preferred) out.push(m);
    for (const m of this.members) if (!m.up && m !== preferred) out.push(m);
    if (preferred && !preferred.up) out.push(preferred);
    return out;
  }

  /** The one member to send to where there is no retry (a stateless ACK). */
  pick(preferred?: SoftswitchMember): SoftswitchMember {
    return this.order(preferred)[0]!;
  }

  /** The member behind a relay branch, as given back by the proxy core. */
  ofBranch(br: RelayBranch): SoftswitchMember | undefined {
    const d = br.destination;
    return d ? this.member(d.address, d.port) : undefined;
  }

  markDown(m: SoftswitchMember, why: string): void {
    if (!m.up || this.size < 2) return;
    m.up = false;
    this.failovers++;
    this.#o.logger?.warn({ softswitch: m.key, why }, 'sbc: softswitch marked down; new requests go to the next one');
  }

  markUp(m: SoftswitchMember): void {
    if (m.up) return;
    m.up = true;
    this.#o.logger?.warn({ softswitch: m.key }, 'sbc: softswitch answers again');
  }

  /** Starts pinging down members (with two members or more and a probe). */
  start(): void {
    const probe = this.#o.probe;
    const every = this.#o.probeMs ?? 0;
    if (!probe || every <= 0 || this.size < 2 || this.#timer) return;
    this.#timer = setInterval(() => {
      for (const m of this.members) {
        if (m.up || m.probing) continue;
        m.probing = true;
        probe(m).then(
          (ok) => {
            m.probing = false;
            if (ok) this.markUp(m);
          },
          () => (m.probing = false),
        );
      }
    }, every);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * An OPTIONS ping to a member over the core link (`stack` signs it when the link has a key):
 * true on any answer within `timeoutMs`. The client transaction may outlive the race
 * (Timer F); its late answer is ignored.
 */
export function optionsProbe(stack: SipStack, agent: string, timeoutMs: number): (m: SoftswitchMember) => Promise<boolean> {
  return (m) => {
    const host = m.host.includes(':') ? `[${m.host}]` : m.host;
    const req = createRequest('OPTIONS', `sip:${host}:${m.port}`, [
      ['From', `<sip:${agent}>;tag=${randomToken()}`], ['To', `<sip:${host}:${m.port}>`],
      ['Call-ID', randomToken(12)], ['CSeq', '1 OPTIONS'], ['Max-Forwards', '70'],
    ]);
    let timer: NodeJS.Timeout | undefined;
    const quiet = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
    });
    const answered = stack.send(req, { destination: m.branch.destination!, ...(m.branch.transport ? { transport: m.branch.transport } : {}) }).then(
      (res) => res.localReason === undefined,
      () => false,
    );
    return Promise.race([answered, quiet]).finally(() => clearTimeout(timer));
  };
}
