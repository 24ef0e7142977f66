/**
 * H.225.0 RAS over UDP: one socket per entity. Requests are retransmitted
 * after a timeout a few times (H.225.0 suggests 3 s and 2 retries);
 * a RequestInProgress (RIP) from the responder stops the retransmissions for
 * the `delay` it announces. Received requests are answered once; a
 * retransmission (same source, message type, requestSeqNum and octets) is
 * answered from a response cache, or with a RIP while the answer is still
 * being worked out. A responder sends RIP by itself when its answer takes
 * longer than `ripAfterMs`, so that the requester does not give up while the
 * AuC is slow.
 *
 * Answers go to the source address of the request, never to an address
 * written inside it. Datagrams that do not decode, and RAS messages this
 * codec does not speak, are dropped and counted. Nothing here knows
 * keyswitch's flow: handlers decide what to answer.
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { literalFirstLookup } from '../lib/udp-lookup.js';
import type { Position } from './per/index.js';
import { decodeRas, encodeRas, type RasMessage } from './ras/ras-message.js';

export const RAS_PORT = 1719;

export interface RasPeer {
  host: string;
  port: number;
}

export interface RasTimers {
  /** First wait for an answer before retransmitting (H.225.0: 3 s for RRQ/URQ). */
  timeoutMs: number;
  /** Retransmissions after the first send (H.225.0: 2). */
  retries: number;
  /** A responder still working on a request after this long sends RIP. */
  ripAfterMs: number;
  /** The delay a RIP announces, in ms (1..65535); it is sent again before it runs out. */
  ripDelayMs: number;
  /** How long an answered request's response is kept for its retransmissions. */
  responseCacheMs: number;
  /** A request is given up after this long in all, however many RIPs came. */
  maxWaitMs: number;
}

export const DEFAULT_RAS_TIMERS: RasTimers = {
  timeoutMs: 3000,
  retries: 2,
  ripAfterMs: 1000,
  ripDelayMs: 5000,
  responseCacheMs: 30_000,
  maxWaitMs: 60_000,
};

/** A received request, as the handler sees it. */
export interface RasRequest {
  message: RasMessage;
  /** The datagram exactly as received (hashes are computed over it, never over a re-encoding). */
  bytes: Buffer;
  locate(value: object): Position | undefined;
  peer: RasPeer;
  seq: number;
}

/** An answer: a message to encode, octets already encoded (signed), or null for none (dropped, nothing cached). */
export type RasAnswer = RasMessage | Buffer | null;
export type RasHandler = (req: RasRequest) => RasAnswer | Promise<RasAnswer>;

export type RasResult =
  | { ok: true; message: RasMessage; bytes: Buffer; locate(value: object): Position | undefined }
  | { ok: false; error: 'timeout' | 'closed' | 'busy' };

export interface RasTransportOptions {
  host?: string;
  port?: number;
  onRequest: RasHandler;
  timers?: Partial<RasTimers>;
  /** Encodes the messages the transport makes itself (RIP), e.g. to protect them; default plain. */
  encodeOwn?: (peer: RasPeer, message: RasMessage) => Buffer;
  maxCachedResponses?: number;
  /** Sees every datagram in and out (captures, tests). */
  onPacket?: (dir: 'in' | 'out', data: Buffer, peer: RasPeer) => void;
  /** Handler failures and dropped datagrams, for the caller's log (never the contents). */
  onEvent?: (event: 'handler-error' | 'undecodable' | 'unsupported', detail: Record<string, unknown>) => void;
}

export interface RasTransportStats {
  datagramsIn: number;
  datagramsOut: number;
  requestsIn: number;
  responsesIn: number;
  /** Retransmitted requests answered from the cache (or with RIP while in progress) instead of being handled again. */
  duplicates: number;
  ripSent: number;
  ripIn: number;
  retransmissions: number;
  timeouts: number;
  /** Datagrams that are not a RAS message this codec reads. */
  undecodable: number;
  /** RAS messages decoded but not handled here (ARQ, RAI, …). */
  unsupported: number;
  /** Responses for no outstanding request, of the wrong kind, or from another address. */
  unmatched: number;
  handlerErrors: number;
  /** Answers that could not be sent (a forged source port 0). */
  sendErrors: number;
  cachedResponses: number;
}

const REQUESTS = new Set(['gatekeeperRequest', 'registrationRequest', 'unregistrationRequest']);
/** Which answers end which request. */
const ANSWERS: Record<string, readonly string[]> = {
  gatekeeperRequest: ['gatekeeperConfirm', 'gatekeeperReject'],
  registrationRequest: ['registrationConfirm', 'registrationReject'],
  unregistrationRequest: ['unregistrationConfirm', 'unregistrationReject'],
};

interface CacheEntry {
  request: Buffer;
  response?: Buffer;
  expiresAt: number;
  ripTimer?: NodeJS.Timeout;
}

interface Outstanding {
  peer: RasPeer;
  type: string;
  data: Buffer;
  sends: number;
  startedAt: number;
  timer: NodeJS.Timeout;
  resolve: (r: RasResult) => void;
}

const peerKey = (p: RasPeer): string => `${p.host}|${p.port}`;
const seqOf = (m: RasMessage): number | undefined => {
  const v = (m as { value?: { requestSeqNum?: unknown } }).value;
  return typeof v?.requestSeqNum === 'number' ? v.requestSeqNum : undefined;
};
const PRUNE_PER_INSERT = 4;

export class RasTransport {
  readonly #socket: dgram.Socket;
  readonly #o: RasTransportOptions;
  readonly #timers: RasTimers;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #outstanding = new Map<string, Outstanding>();
  readonly #maxCached: number;
  #seq: number;
  #closed = false;
  readonly #stats: Omit<RasTransportStats, 'cachedResponses'> = {
    datagramsIn: 0, datagramsOut: 0, requestsIn: 0, responsesIn: 0, duplicates: 0, ripSent: 0, ripIn: 0,
    retransmissions: 0, timeouts: 0, undecodable: 0, unsupported: 0, unmatched: 0, handlerErrors: 0, sendErrors: 0,
  };

  private constructor(socket: dgram.Socket, o: RasTransportOptions) {
    this.#socket = socket;
    this.#o = o;
    this.#timers = { ...DEFAULT_RAS_TIMERS, ...o.timers };
    this.#maxCached = o.maxCachedResponses ?? 100_000;
    this.#seq = 1 + Math.floor(Math.random() * 65535);
    socket.on('message', (data, rinfo) => this.#onDatagram(data, { host: rinfo.address, port: rinfo.port }));
    // A send to an unreachable peer reports ICMP errors here; RAS has its own timeouts.
    socket.on('error', () => undefined);
  }

  static async open(o: RasTransportOptions): Promise<RasTransport> {
    const host = o.host ?? '0.0.0.0';
    const socket = dgram.createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4', lookup: literalFirstLookup });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(o.port ?? RAS_PORT, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new RasTransport(socket, o);
  }

  get port(): number {
    return this.#socket.address().port;
  }

  get address(): string {
    return this.#socket.address().address;
  }

  stats(): RasTransportStats {
    return { ...this.#stats, cachedResponses: this.#cache.size };
  }

  /**
   * Sends a request and waits for its answer. `build` makes the octets for a
   * requestSeqNum (a protected message is signed over them); retransmissions
   * resend the same octets.
   */
  request(peer: RasPeer, build: (seq: number) => Buffer | RasMessage): Promise<RasResult> {
    if (this.#closed) return Promise.resolve({ ok: false, error: 'closed' });
    const seq = this.#nextSeq(peer);
    if (seq === undefined) return Promise.resolve({ ok: false, error: 'busy' });
    const built = build(seq);
    const data = Buffer.isBuffer(built) ? built : encodeRas(built);
    const decoded = Buffer.isBuffer(built) ? decodeRas(data) : { ok: true as const, message: built };
    const type = decoded.ok ? decoded.message.type : '';
    if (!ANSWERS[type] || (decoded.ok && seqOf(decoded.message) !== seq)) {
      throw new RangeError('request() sends a GRQ, RRQ or URQ carrying the requestSeqNum it was given');
    }
    return new Promise((resolve) => {
      const out: Outstanding = { peer, type, data, sends: 0, startedAt: Date.now(), timer: undefined as unknown as NodeJS.Timeout, resolve };
      this.#outstanding.set(`${peerKey(peer)}|${seq}`, out);
      this.#transmit(out, `${peerKey(peer)}|${seq}`);
    });
  }

  #nextSeq(peer: RasPeer): number | undefined {
    for (let i = 0; i < 65535; i++) {
      const s = this.#seq;
      this.#seq = (this.#seq % 65535) + 1;
      if (!this.#outstanding.has(`${peerKey(peer)}|${s}`)) return s;
    }
    return undefined;
  }

  #transmit(out: Outstanding, key: string): void {
    if (out.sends > 0) this.#stats.retransmissions++;
    out.sends++;
    this.#send(out.data, out.peer);
    this.#arm(out, key, this.#timers.timeoutMs);
  }

  #arm(out: Outstanding, key: string, ms: number): void {
    clearTimeout(out.timer);
    const left = out.startedAt + this.#timers.maxWaitMs - Date.now();
    out.timer = setTimeout(() => {
      if (out.sends <= this.#timers.retries && Date.now() - out.startedAt < this.#timers.maxWaitMs) return this.#transmit(out, key);
      this.#outstanding.delete(key);
      this.#stats.timeouts++;
      out.resolve({ ok: false, error: 'timeout' });
    }, Math.max(1, Math.min(ms, left)));
  }

  #send(data: Buffer, peer: RasPeer): void {
    if (this.#closed) return;
    this.#stats.datagramsOut++;
    this.#o.onPacket?.('out', data, peer);
    try {
      this.#socket.send(data, peer.port, peer.host);
    } catch {
      // Node throws at once for a port it will not send to (0: a forged source port); thrown here, in a datagram's handler, it ended the process.
      this.#stats.sendErrors++;
    }
  }

  #onDatagram(data: Buffer, peer: RasPeer): void {
    this.#stats.datagramsIn++;
    this.#o.onPacket?.('in', data, peer);
    const d = decodeRas(data);
    if (!d.ok) {
      if (d.error.code === 'unsupported') this.#stats.unsupported++;
      else this.#stats.undecodable++;
      this.#o.onEvent?.(d.error.code === 'unsupported' ? 'unsupported' : 'undecodable', { peer: peerKey(peer), code: d.error.code });
      return;
    }
    const m = d.message;
    const seq = seqOf(m);
    if (seq === undefined) {
      this.#stats.unsupported++;
      return;
    }
    if (REQUESTS.has(m.type)) return this.#onRequest({ message: m, bytes: data, locate: d.locate, peer, seq });
    this.#stats.responsesIn++;
    const key = `${peerKey(peer)}|${seq}`;
    const out = this.#outstanding.get(key);
    if (m.type === 'requestInProgress') {
      if (!out) {
        this.#stats.unmatched++;
        return;
      }
      this.#stats.ripIn++;
      // Wait the announced delay, then retransmit from the start of the retry budget.
      out.sends = 1;
      this.#arm(out, key, (m.value as { delay: number }).delay + 100);
      return;
    }
    if (!out || !ANSWERS[out.type]!.includes(m.type)) {
      this.#stats.unmatched++;
      return;
    }
    clearTimeout(out.timer);
    this.#outstanding.delete(key);
    out.resolve({ ok: true, message: m, bytes: data, locate: d.locate });
  }

  #prune(now: number): void {
    let n = 0;
    for (const [k, e] of this.#cache) {
      if (n++ >= PRUNE_PER_INSERT || e.expiresAt > now) break;
      if (e.response === undefined) break; // still being worked on
      this.#cache.delete(k);
    }
    if (this.#cache.size >= this.#maxCached) {
      // Full of live answers: forget the oldest answered one (a retransmission of it is handled again).
      for (const [k, e] of this.#cache) {
        if (e.response !== undefined) {
          this.#cache.delete(k);
          break;
        }
      }
    }
  }

  #onRequest(req: RasRequest): void {
    this.#stats.requestsIn++;
    const now = Date.now();
    const key = `${peerKey(req.peer)}|${req.message.type}|${req.seq}`;
    const cached = this.#cache.get(key);
    if (cached && cached.expiresAt > now && cached.request.equals(req.bytes)) {
      this.#stats.duplicates++;
      if (cached.response) this.#send(cached.response, req.peer);
      else this.#rip(req.peer, req.seq);
      return;
    }
    // Another request under a seq still being worked on is not started twice.
    if (cached && cached.response === undefined) {
      this.#stats.duplicates++;
      return;
    }
    this.#cache.delete(key);
    this.#prune(now);
    const entry: CacheEntry = { request: req.bytes, expiresAt: now + this.#timers.responseCacheMs };
    this.#cache.set(key, entry);
    const ripLoop = (after: number) => {
      entry.ripTimer = setTimeout(() => {
        if (entry.response !== undefined || this.#closed) return;
        this.#rip(req.peer, req.seq);
        ripLoop(Math.max(50, Math.floor(this.#timers.ripDelayMs * 0.8)));
      }, after);
      entry.ripTimer.unref?.();
    };
    ripLoop(this.#timers.ripAfterMs);
    const done = (answer: RasAnswer) => {
      clearTimeout(entry.ripTimer);
      if (answer === null || this.#closed) {
        if (this.#cache.get(key) === entry) this.#cache.delete(key);
        return;
      }
      const data = Buffer.isBuffer(answer) ? answer : encodeRas(answer);
      entry.response = data;
      entry.expiresAt = Date.now() + this.#timers.responseCacheMs;
      // Re-insert so that insertion order stays close to expiry order.
      this.#cache.delete(key);
      this.#cache.set(key, entry);
      this.#send(data, req.peer);
    };
    const fail = (err: unknown) => {
      clearTimeout(entry.ripTimer);
      this.#stats.handlerErrors++;
      if (this.#cache.get(key) === entry) this.#cache.delete(key);
      this.#o.onEvent?.('handler-error', { peer: peerKey(req.peer), type: req.message.type, err: err instanceof Error ? err.message : String(err) });
    };
    try {
      const r = this.#o.onRequest(req);
      if (r instanceof Promise) r.then(done, fail);
      else done(r);
    } catch (err) {
      fail(err);
    }
  }

  #rip(peer: RasPeer, seq: number): void {
    const delay = Math.max(1, Math.min(65535, this.#timers.ripDelayMs));
    const msg: RasMessage = { type: 'requestInProgress', value: { requestSeqNum: seq, delay } };
    this.#stats.ripSent++;
    this.#send(this.#o.encodeOwn ? this.#o.encodeOwn(peer, msg) : encodeRas(msg), peer);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const out of this.#outstanding.values()) {
      clearTimeout(out.timer);
      out.resolve({ ok: false, error: 'closed' });
    }
    this.#outstanding.clear();
    for (const e of this.#cache.values()) clearTimeout(e.ripTimer);
    this.#cache.clear();
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }
}
