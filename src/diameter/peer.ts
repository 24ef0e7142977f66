/**
 * One Diameter connection: framing, CER/CEA, DWR/DWA watchdog (RFC 3539 Tw),
 * DPR/DPA, and requests matched to answers by hop-by-hop id. Nothing from the
 * network can throw out of here: bad input gets an error answer or a close.
 */
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { avp, type Avp } from './avp.js';
import { makeAnswer, makeHeaderOnlyAnswer, resultOf, type AnswerExtras, type Outcome } from './answers.js';
import { decodeMessage, encodeMessage, readHeader, type DiameterMessage } from './codec.js';
import {
  APP_BASE,
  CMD_CAPABILITIES_EXCHANGE,
  CMD_DEVICE_WATCHDOG,
  CMD_DISCONNECT_PEER,
  DISCONNECT_CAUSE,
  FLAG_REQUEST,
  HEADER_LENGTH,
  RESULT,
} from './constants.js';
import { defaultDictionary, type Dictionary } from './dictionary.js';
import { DiameterDecodeError, DiameterTimeoutError, DiameterTransportError } from './errors.js';
import { DiameterFramer } from './framer.js';
import { capabilityAvps, hasCommonApplication, nextEndToEnd, plainAddress, remoteFrom, type LocalIdentity, type RemoteIdentity } from './identity.js';

export type PeerState = 'wait-cea' | 'wait-cer' | 'open' | 'closing' | 'closed';

export interface RequestContext {
  peer: DiameterPeer;
  /** An answer to this request from this node (Session-Id, outcome, Origin-Host/Realm, then avps). */
  answer(outcome: Outcome, avps?: readonly Avp[], extras?: AnswerExtras): DiameterMessage;
}

export type RequestHandler = (req: DiameterMessage, ctx: RequestContext) => Promise<DiameterMessage> | DiameterMessage;

/** What the transport knows about a connecting peer, beside what its CER claims. */
export interface ConnectionFacts {
  /** Source address (IPv4-mapped IPv6 given as plain IPv4). */
  address: string;
  /** TLS-PSK identity the handshake proved, if the connection is TLS-PSK. */
  pskIdentity?: string;
}

/** Decides whether a CER's sender may be a peer; false gets CEA 3010 DIAMETER_UNKNOWN_PEER and a close. */
export type PeerAuthorizer = (remote: RemoteIdentity, conn: ConnectionFacts) => boolean;

/** applicationId → commandCode → handler */
export type HandlerTable = Map<number, Map<number, RequestHandler>>;

export interface PeerOptions {
  local: LocalIdentity;
  role: 'initiator' | 'responder';
  /** RFC 3539 Tw: quiet time before a DWR, and how long a DWA may take. Default 30 s. */
  watchdogMs?: number;
  /** Default per-request answer timeout. Default 5 s. */
  requestTimeoutMs?: number;
  /** Largest message accepted; longer ones close the connection. Default 64 KiB. */
  maxMessageSize?: number;
  /** Requests from the peer being handled at once; beyond it the answer is 3004 DIAMETER_TOO_BUSY. */
  maxIncomingInFlight?: number;
  /** Time allowed for the capability exchange. Default 10 s. */
  handshakeMs?: number;
  handlers?: HandlerTable;
  dictionary?: Dictionary;
  /** Responder: who may complete the capability exchange (absent: anyone with a common application). */
  authorize?: PeerAuthorizer;
  /** Responder over TLS-PSK: the identity the handshake proved. */
  pskIdentity?: string;
  /** First hop-by-hop id (random by default); tests use it to check the 2^32 wrap. */
  initialHopByHop?: number;
  /**
   * Told of each request whose handler threw (it is answered 5012 DIAMETER_UNABLE_TO_COMPLY):
   * such a throw is a fault of ours or of what is behind us, never to go unnoticed.
   */
  onHandlerError?: (err: unknown, req: DiameterMessage, peer: DiameterPeer) => void;
}

export interface OutgoingRequest {
  commandCode: number;
  applicationId: number;
  avps: Avp[];
  /** Extra header flags (P, T); R is always set. */
  flags?: number;
  /** Kept across retransmissions to other peers. */
  endToEnd?: number;
}

interface Pending {
  resolve(m: DiameterMessage): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export declare interface DiameterPeer {
  on(event: 'open', listener: (remote: RemoteIdentity) => void): this;
  on(event: 'refused', listener: (remote: RemoteIdentity, conn: ConnectionFacts) => void): this;
  on(event: 'closed', listener: (reason: string) => void): this;
  once(event: 'open', listener: (remote: RemoteIdentity) => void): this;
  once(event: 'closed', listener: (reason: string) => void): this;
  once(event: 'refused', listener: (remote: RemoteIdentity, conn: ConnectionFacts) => void): this;
}

export class DiameterPeer extends EventEmitter {
  state: PeerState;
  remote: RemoteIdentity | undefined;
  closeReason: string | undefined;

  private readonly framer: DiameterFramer;
  private readonly pending = new Map<number, Pending>();
  private readonly dict: Dictionary;
  private readonly watchdogMs: number;
  private readonly requestTimeoutMs: number;
  private readonly maxIncomingInFlight: number;
  private hopByHop: number;
  private incomingInFlight = 0;
  private lastReceived = Date.now();
  private watchdogTimer: NodeJS.Timeout | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private dwrOutstanding = false;
  private corked = false;

  constructor(
    readonly socket: Socket,
    private readonly opts: PeerOptions,
  ) {
    super();
    this.dict = opts.dictionary ?? defaultDictionary;
    this.watchdogMs = opts.watchdogMs ?? 30_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 5_000;
    this.maxIncomingInFlight = opts.maxIncomingInFlight ?? 1024;
    this.hopByHop = (opts.initialHopByHop ?? randomInt(0x100000000 - 1)) >>> 0;
    this.framer = new DiameterFramer(opts.maxMessageSize ?? 65536);
    this.state = opts.role === 'initiator' ? 'wait-cea' : 'wait-cer';
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {}); // 'close' follows and carries the consequence
    socket.on('close', () => this.onClosed(this.closeReason ?? 'connection closed'));
    this.handshakeTimer = setTimeout(() => this.destroy('capability exchange timed out'), opts.handshakeMs ?? 10_000);
    this.handshakeTimer.unref();
    if (opts.role === 'initiator') this.sendCer();
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Sends a request and resolves with its answer (any result code); rejects on timeout or loss of the connection. */
  request(req: OutgoingRequest, timeoutMs = this.requestTimeoutMs): Promise<DiameterMessage> {
    const base = req.applicationId === APP_BASE && (req.commandCode === CMD_DEVICE_WATCHDOG || req.commandCode === CMD_CAPABILITIES_EXCHANGE || req.commandCode === CMD_DISCONNECT_PEER);
    if (this.state !== 'open' && !(base && this.state !== 'closed')) {
      return Promise.reject(new DiameterTransportError(`peer not open (${this.state})`));
    }
    const hopByHop = this.nextHopByHop();
    const msg: DiameterMessage = {
      flags: FLAG_REQUEST | (req.flags ?? 0),
      commandCode: req.commandCode,
      applicationId: req.applicationId,
      hopByHop,
      endToEnd: req.endToEnd ?? nextEndToEnd(),
      avps: req.avps,
    };
    let bytes: Buffer;
    try {
      bytes = encodeMessage(msg, this.dict);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    return new Promise<DiameterMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(hopByHop);
        reject(new DiameterTimeoutError());
      }, timeoutMs);
      this.pending.set(hopByHop, { resolve, reject, timer });
      this.write(bytes);
    });
  }

  /** RFC 6733 §5.4: DPR, wait briefly for DPA, then close. */
  async disconnect(cause: number = DISCONNECT_CAUSE.REBOOTING, waitMs = 1000): Promise<void> {
    if (this.state === 'open') {
      this.state = 'closing';
      try {
        await this.request(
          {
            commandCode: CMD_DISCONNECT_PEER,
            applicationId: APP_BASE,
            avps: [avp('Origin-Host', this.opts.local.originHost), avp('Origin-Realm', this.opts.local.originRealm), avp('Disconnect-Cause', cause)],
          },
          waitMs,
        );
      } catch {
        // no DPA: close anyway
      }
    }
    this.destroy('disconnected');
  }

  destroy(reason: string): void {
    if (this.state === 'closed') return;
    this.closeReason ??= reason;
    this.framer.stop();
    this.socket.destroy();
    this.onClosed(reason);
  }

  // ------------------------------------------------------------ internals

  /** Stops reading, lets what was written (an error answer, a CEA, a DPA) drain, then closes. */
  private endGracefully(reason: string): void {
    if (this.state === 'closed') return;
    this.closeReason ??= reason;
    this.state = 'closing';
    this.framer.stop();
    this.socket.end();
    setTimeout(() => this.destroy(reason), 1000).unref();
  }

  private nextHopByHop(): number {
    const id = this.hopByHop;
    this.hopByHop = (this.hopByHop + 1) >>> 0;
    return id;
  }

  private write(bytes: Buffer): void {
    if (this.state === 'closed' || !this.socket.writable) return;
    // Messages written in the same turn of the event loop leave in one writev: under load every datagram or answer
    // that reaches a role is a callback of its own, so a tick (nextTick) held one message and each cost a syscall.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      setImmediate(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(bytes);
  }

  private send(m: DiameterMessage): void {
    try {
      this.write(encodeMessage(m, this.dict));
    } catch {
      // An answer we cannot encode is our bug, not the peer's: do not take the connection down with it.
    }
  }

  private onClosed(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeReason ??= reason;
    if (this.watchdogTimer) clearTimeout(this.watchdogTimer);
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new DiameterTransportError(`connection closed: ${this.closeReason}`));
    }
    this.pending.clear();
    this.emit('closed', this.closeReason);
  }

  private onData(chunk: Buffer): void {
    const err = this.framer.push(chunk, (m) => this.onMessage(m));
    if (!err) return;
    // Unframeable: answer once if the header says it was a request, then close.
    if (err.header && err.header[4]! & FLAG_REQUEST && this.state !== 'closed') {
      const code = err.problem === 'unsupported-version' ? RESULT.UNSUPPORTED_VERSION : RESULT.INVALID_MESSAGE_LENGTH;
      this.send(makeHeaderOnlyAnswer(readHeader(err.header), this.opts.local, code));
      this.endGracefully(`framing error: ${err.problem}`);
      return;
    }
    this.destroy(`framing error: ${err.problem}`);
  }

  private onMessage(buf: Buffer): void {
    if (this.state === 'closed') return;
    let m: DiameterMessage;
    try {
      m = decodeMessage(buf, this.dict);
    } catch (e) {
      this.onUndecodable(buf, e);
      return;
    }
    this.lastReceived = Date.now();
    if (m.flags & FLAG_REQUEST) this.onRequest(m);
    else this.onAnswer(m);
  }

  private onUndecodable(buf: Buffer, e: unknown): void {
    if (!(e instanceof DiameterDecodeError) || buf.length < HEADER_LENGTH) {
      this.destroy('undecodable message');
      return;
    }
    const h = readHeader(buf);
    if (h.flags & FLAG_REQUEST) {
      const extras: AnswerExtras = { errorMessage: e.message };
      if (e.failedAvp) extras.failedAvp = e.failedAvp;
      this.send(makeHeaderOnlyAnswer(h, this.opts.local, e.resultCode, extras));
      if (this.state !== 'open') this.endGracefully('undecodable request before capability exchange');
      return;
    }
    const p = this.pending.get(h.hopByHop);
    if (p) {
      this.pending.delete(h.hopByHop);
      clearTimeout(p.timer);
      p.reject(e);
    }
    if (this.state !== 'open') this.destroy('undecodable answer before capability exchange');
  }

  private onAnswer(m: DiameterMessage): void {
    const p = this.pending.get(m.hopByHop);
    if (!p) return; // late or unsolicited: RFC 6733 §6.2 says discard
    this.pending.delete(m.hopByHop);
    clearTimeout(p.timer);
    p.resolve(m);
  }

  private answer(req: DiameterMessage, outcome: Outcome, avps: readonly Avp[] = [], extras?: AnswerExtras): void {
    this.send(makeAnswer(req, this.opts.local, outcome, avps, extras));
  }

  private onRequest(m: DiameterMessage): void {
    const isBase = m.applicationId === APP_BASE;
    if (this.state === 'wait-cer') {
      if (isBase && m.commandCode === CMD_CAPABILITIES_EXCHANGE) this.onCer(m);
      else this.destroy('request before CER');
      return;
    }
    if (this.state !== 'open' && this.state !== 'closing') {
      this.destroy('request before CEA');
      return;
    }
    if (isBase && m.commandCode === CMD_DEVICE_WATCHDOG) {
      const sid = this.opts.local.originStateId;
      this.answer(m, { resultCode: RESULT.SUCCESS }, sid === undefined ? [] : [avp('Origin-State-Id', sid)]);
      return;
    }
    if (isBase && m.commandCode === CMD_DISCONNECT_PEER) {
      this.answer(m, { resultCode: RESULT.SUCCESS });
      this.endGracefully('peer sent DPR');
      return;
    }
    if (isBase && m.commandCode === CMD_CAPABILITIES_EXCHANGE) {
      this.answer(m, { resultCode: RESULT.UNABLE_TO_COMPLY }, [], { errorMessage: 'capabilities already exchanged' });
      return;
    }
    if (m.unknownMandatory) {
      this.answer(m, { resultCode: RESULT.AVP_UNSUPPORTED }, [], { failedAvp: m.unknownMandatory });
      return;
    }
    const byCommand = this.opts.handlers?.get(m.applicationId);
    if (!byCommand) {
      this.answer(m, { resultCode: RESULT.APPLICATION_UNSUPPORTED });
      return;
    }
    const handler = byCommand.get(m.commandCode);
    if (!handler) {
      this.answer(m, { resultCode: RESULT.COMMAND_UNSUPPORTED });
      return;
    }
    if (this.incomingInFlight >= this.maxIncomingInFlight) {
      this.answer(m, { resultCode: RESULT.TOO_BUSY });
      return;
    }
    this.incomingInFlight++;
    const ctx: RequestContext = {
      peer: this,
      answer: (outcome, avps, extras) => makeAnswer(m, this.opts.local, outcome, avps, extras),
    };
    Promise.resolve()
      .then(() => handler(m, ctx))
      .then(
        (ans) => this.send(ans),
        (err: unknown) => {
          this.answer(m, { resultCode: RESULT.UNABLE_TO_COMPLY });
          try {
            this.opts.onHandlerError?.(err, m, this);
          } catch {
            // a failing observer must not take the connection down
          }
        },
      )
      .finally(() => this.incomingInFlight--);
  }

  private onCer(m: DiameterMessage): void {
    const remote = remoteFrom(m.avps);
    const caps = capabilityAvps(this.opts.local, this.socket.localAddress);
    if (remote && this.opts.authorize) {
      const conn: ConnectionFacts = { address: plainAddress(this.socket.remoteAddress) ?? '', ...(this.opts.pskIdentity !== undefined ? { pskIdentity: this.opts.pskIdentity } : {}) };
      if (!this.opts.authorize(remote, conn)) {
        // RFC 6733 §5.3: a CER from an unknown peer gets 3010 (E bit); nothing about why, and no capabilities.
        this.send(makeAnswer(m, this.opts.local, { resultCode: RESULT.UNKNOWN_PEER }));
        this.emit('refused', remote, conn);
        this.endGracefully('unknown peer');
        return;
      }
    }
    if (!remote) {
      this.send(makeAnswer(m, this.opts.local, { resultCode: RESULT.MISSING_AVP }, caps.slice(2)));
      this.endGracefully('CER without Origin-Host/Origin-Realm');
      return;
    }
    if (!hasCommonApplication(this.opts.local, remote)) {
      this.send(makeAnswer(m, this.opts.local, { resultCode: RESULT.NO_COMMON_APPLICATION }, caps.slice(2)));
      this.endGracefully('no common application');
      return;
    }
    this.send(makeAnswer(m, this.opts.local, { resultCode: RESULT.SUCCESS }, caps.slice(2)));
    this.opened(remote);
  }

  private sendCer(): void {
    this.request({ commandCode: CMD_CAPABILITIES_EXCHANGE, applicationId: APP_BASE, avps: capabilityAvps(this.opts.local, this.socket.localAddress) }, this.opts.handshakeMs ?? 10_000).then(
      (cea) => {
        const r = resultOf(cea);
        const remote = remoteFrom(cea.avps);
        if (r?.code !== RESULT.SUCCESS || !remote) this.destroy(`CEA refused (${r?.code ?? 'no result'})`);
        else this.opened(remote);
      },
      (e: Error) => this.destroy(`CER failed: ${e.message}`),
    );
  }

  private opened(remote: RemoteIdentity): void {
    if (this.state === 'closed') return;
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.remote = remote;
    this.state = 'open';
    this.lastReceived = Date.now();
    this.armWatchdog();
    this.emit('open', remote);
  }

  private armWatchdog(): void {
    this.watchdogTimer = setTimeout(() => this.onWatchdogTimer(), this.watchdogMs);
    this.watchdogTimer.unref();
  }

  private onWatchdogTimer(): void {
    if (this.state !== 'open') return;
    if (!this.dwrOutstanding && Date.now() - this.lastReceived >= this.watchdogMs) void this.watchdog();
    this.armWatchdog();
  }

  /** One DWR/DWA round; a missing DWA within Tw fails the connection (RFC 3539 §3.4.1). */
  async watchdog(): Promise<boolean> {
    this.dwrOutstanding = true;
    try {
      const dwa = await this.request(
        { commandCode: CMD_DEVICE_WATCHDOG, applicationId: APP_BASE, avps: [avp('Origin-Host', this.opts.local.originHost), avp('Origin-Realm', this.opts.local.originRealm)] },
        this.watchdogMs,
      );
      return resultOf(dwa)?.code === RESULT.SUCCESS;
    } catch {
      this.destroy('watchdog: no DWA');
      return false;
    } finally {
      this.dwrOutstanding = false;
    }
  }
}

