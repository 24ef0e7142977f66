/**
 * A Diameter initiator holding several peers in priority order. Requests go to
 * the first open peer; on a lost connection or a timeout they are retried on
 * the next (T bit set where the first may have acted on it). A peer that stops
 * answering DWRs is closed and reconnected every reconnectMs; once it has
 * answered reopenWatchdogs DWRs again (RFC 3539 REOPEN) it takes traffic back.
 */
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { resultOf } from './answers.js';
import type { DiameterMessage } from './codec.js';
import { FLAG_ERROR, FLAG_RETRANSMIT, RESULT } from './constants.js';
import type { Dictionary } from './dictionary.js';
import { DiameterTimeoutError, DiameterTransportError } from './errors.js';
import { nextEndToEnd, type LocalIdentity, type RemoteIdentity } from './identity.js';
import { DiameterPeer, type OutgoingRequest } from './peer.js';
import { pskClientOptions } from './tls-psk.js';

export interface PeerAddress {
  host: string;
  port: number;
}

export interface DiameterClientOptions {
  /** In priority order: the first is the primary. */
  peers: PeerAddress[];
  local: LocalIdentity;
  watchdogMs?: number;
  connectTimeoutMs?: number;
  /** RFC 3539 Tc: how often a down peer is retried. */
  reconnectMs?: number;
  /** Per attempt on one peer. */
  requestTimeoutMs?: number;
  /** Overall bound for request(), across peers and waiting for one to open. */
  totalTimeoutMs?: number;
  /** DWAs a reconnected peer must answer before it takes traffic again. Default 3. */
  reopenWatchdogs?: number;
  maxMessageSize?: number;
  dictionary?: Dictionary;
  /** TLS-PSK from the first byte (RFC 6733 §13) with this key; the PSK identity is our Origin-Host. Absent: plain TCP. */
  tlsPsk?: Buffer;
}

export type SlotState = 'down' | 'connecting' | 'reopen' | 'open' | 'suspect';

interface Slot {
  address: PeerAddress;
  state: SlotState;
  peer: DiameterPeer | undefined;
  everOpened: boolean;
  timer: NodeJS.Timeout | undefined;
}

export interface PeerStatus extends PeerAddress {
  state: SlotState;
  remote?: RemoteIdentity;
}

export class DiameterClient extends EventEmitter {
  private readonly slots: Slot[];
  private stopped = false;
  private readonly sessionPrefix: string;
  private sessionCounter = 0;

  constructor(readonly opts: DiameterClientOptions) {
    super();
    this.setMaxListeners(0);
    this.slots = opts.peers.map((address) => ({ address, state: 'down', peer: undefined, everOpened: false, timer: undefined }));
    // RFC 6733 §8.8: <DiameterIdentity>;<high 32 bits>;<low 32 bits>
    this.sessionPrefix = `${opts.local.originHost};${Math.floor(Date.now() / 1000)};`;
    this.sessionCounter = randomBytes(4).readUInt32BE(0);
  }

  /** Starts connecting to every peer; returns at once. */
  start(): this {
    for (const s of this.slots) this.connect(s);
    return this;
  }

  newSessionId(): string {
    this.sessionCounter = (this.sessionCounter + 1) >>> 0;
    return `${this.sessionPrefix}${this.sessionCounter}`;
  }

  status(): PeerStatus[] {
    return this.slots.map((s) => ({ ...s.address, state: s.state, ...(s.peer?.remote ? { remote: s.peer.remote } : {}) }));
  }

  /** Resolves true once some peer is open, false after timeoutMs. */
  waitForOpen(timeoutMs: number): Promise<boolean> {
    if (this.slots.some((s) => s.state === 'open')) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onState = () => {
        if (this.slots.some((s) => s.state === 'open')) done(true);
      };
      const timer = setTimeout(() => done(false), Math.max(0, timeoutMs));
      const done = (v: boolean) => {
        clearTimeout(timer);
        this.off('state', onState);
        resolve(v);
      };
      this.on('state', onState);
    });
  }

  async request(req: OutgoingRequest, totalTimeoutMs = this.opts.totalTimeoutMs ?? 5000): Promise<DiameterMessage> {
    const deadline = Date.now() + totalTimeoutMs;
    const endToEnd = req.endToEnd ?? nextEndToEnd();
    const tried = new Set<Slot>();
    let mayHaveActed = false;
    let lastError: Error | undefined;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0 || this.stopped) break;
      const slot = this.slots.find((s) => s.state === 'open' && !tried.has(s));
      if (!slot) {
        if (this.slots.every((s) => tried.has(s))) break;
        if (!(await this.waitForUntriedOpen(tried, remaining))) break;
        continue;
      }
      tried.add(slot);
      const peer = slot.peer!;
      try {
        const flags = (req.flags ?? 0) | (mayHaveActed ? FLAG_RETRANSMIT : 0);
        const ans = await peer.request({ ...req, endToEnd, flags }, Math.min(this.opts.requestTimeoutMs ?? 2000, remaining));
        const r = resultOf(ans);
        if (ans.flags & FLAG_ERROR && r && (r.code === RESULT.UNABLE_TO_DELIVER || r.code === RESULT.TOO_BUSY)) {
          lastError = new DiameterTransportError(`peer answered ${r.code}`);
          continue;
        }
        return ans;
      } catch (e) {
        lastError = e as Error;
        mayHaveActed = true;
        if (e instanceof DiameterTimeoutError) this.suspect(slot, peer);
      }
    }
    throw lastError ?? new DiameterTransportError('no Diameter peer available');
  }

  async close(): Promise<void> {
    this.stopped = true;
    await Promise.all(
      this.slots.map(async (s) => {
        if (s.timer) clearTimeout(s.timer);
        await s.peer?.disconnect(undefined, 500);
      }),
    );
  }

  // ------------------------------------------------------------ internals

  private setState(s: Slot, state: SlotState): void {
    s.state = state;
    this.emit('state', s.address, state);
  }

  private waitForUntriedOpen(tried: Set<Slot>, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.slots.some((s) => s.state === 'open' && !tried.has(s))) done(true);
        else if (this.stopped) done(false);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      const done = (v: boolean) => {
        clearTimeout(timer);
        this.off('state', check);
        resolve(v);
      };
      this.on('state', check);
    });
  }

  /** A request timed out: take the peer out of rotation until it answers a DWR (RFC 3539 SUSPECT). */
  private suspect(s: Slot, peer: DiameterPeer): void {
    if (s.peer !== peer || s.state !== 'open') return;
    this.setState(s, 'suspect');
    void peer.watchdog().then((ok) => {
      if (s.peer === peer && s.state === 'suspect' && ok) this.setState(s, 'open');
    });
  }

  private scheduleReconnect(s: Slot): void {
    if (this.stopped || s.timer) return;
    s.timer = setTimeout(() => {
      s.timer = undefined;
      this.connect(s);
    }, this.opts.reconnectMs ?? 2000);
    s.timer.unref();
  }

  private connect(s: Slot): void {
    if (this.stopped) return;
    this.setState(s, 'connecting');
    const tlsPsk = this.opts.tlsPsk;
    const socket: Socket = tlsPsk
      ? tlsConnect({ host: s.address.host, port: s.address.port, ...pskClientOptions(this.opts.local.originHost, tlsPsk) })
      : connect({ host: s.address.host, port: s.address.port });
    socket.on('error', () => {});
    const connectTimer = setTimeout(() => socket.destroy(), this.opts.connectTimeoutMs ?? 3000);
    const failed = () => {
      clearTimeout(connectTimer);
      if (s.state === 'connecting' && !s.peer) {
        this.setState(s, 'down');
        this.scheduleReconnect(s);
      }
    };
    socket.once('close', failed);
    // Over TLS the peer starts once the handshake proved both sides hold the key.
    socket.once(tlsPsk ? 'secureConnect' : 'connect', () => {
      clearTimeout(connectTimer);
      socket.off('close', failed);
      if (this.stopped) {
        socket.destroy();
        return;
      }
      const peer = new DiameterPeer(socket, {
        local: this.opts.local,
        role: 'initiator',
        watchdogMs: this.opts.watchdogMs ?? 30_000,
        handshakeMs: this.opts.connectTimeoutMs ?? 3000,
        ...(this.opts.maxMessageSize !== undefined ? { maxMessageSize: this.opts.maxMessageSize } : {}),
        ...(this.opts.dictionary ? { dictionary: this.opts.dictionary } : {}),
      });
      s.peer = peer;
      peer.once('open', () => void this.opened(s, peer));
      peer.once('closed', () => {
        if (s.peer !== peer) return;
        s.peer = undefined;
        this.setState(s, 'down');
        this.scheduleReconnect(s);
      });
    });
  }

  private async opened(s: Slot, peer: DiameterPeer): Promise<void> {
    const needed = s.everOpened ? (this.opts.reopenWatchdogs ?? 3) : 0;
    if (needed > 0) {
      this.setState(s, 'reopen');
      for (let i = 0; i < needed; i++) {
        const ok = await peer.watchdog();
        if (s.peer !== peer) return;
        if (!ok) {
          peer.destroy('reopen: watchdog refused');
          return;
        }
      }
    }
    if (s.peer !== peer || !peer.isOpen) return;
    s.everOpened = true;
    this.setState(s, 'open');
  }
}
