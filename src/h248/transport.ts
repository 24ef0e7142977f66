import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { EndOfTurnBatcher } from '../lib/end-of-turn-batcher.js';
import { RtoEstimator } from '../lib/rto-estimator.js';
import { SocketWait } from '../lib/socket-wait.js';
import { literalFirstLookup } from '../lib/udp-lookup.js';
import { parseMessage, parseMessages } from './parse.js';
import { serializeMessage, writeTransaction } from './serialize.js';
import type { Action, ErrorDescriptor, ParsedMessage, ParseError, Transaction, TransactionReply, TransactionRequest } from './types.js';

/**
 * H.248 over UDP (H.248.1 Annex D.1): transactions with retransmission,
 * Pending, a reply cache that answers duplicate requests without running
 * them again, and TransactionResponseAck.
 *
 * - A request is resent after t1 (200 ms), doubling up to maxInterval (4 s),
 *   at most maxSends times; then it times out. The first interval stretches
 *   past t1 while replies are measured late (RtoEstimator, Annex D's adaptive
 *   timer), and is t1 again once they come quickly.
 * - A Pending stops the resends; the requester then waits pendingWait for the
 *   reply (each further Pending restarts that wait).
 * - A request still being handled after pendingAfter (100 ms) gets a
 *   Pending, and so does every duplicate of it that arrives meanwhile.
 * - A reply is cached for replyCache (30 s, Annex D's LONG-TIMER) or until
 *   the peer acknowledges it; a duplicate request is answered from the
 *   cache. With `immAck`, replies ask for the acknowledgement (IA).
 * - Transactions to one peer made in one turn of the event loop leave in one
 *   message (piggy-backing: a reply and the request that follows it, H.248.1
 *   §8 allows several transactions per message); a retransmission, a Pending
 *   and a cached reply sent again go alone.
 * - `outbound` turns each message's text into the datagram (keyswitch adds
 *   the Annex B header there, with a fresh sequence number on every send,
 *   retransmissions included). `inbound` vets each parsed datagram before
 *   its transactions are handled.
 */

export interface Peer {
  address: string;
  port: number;
  /**
   * On an endpoint with `namedPeers`: the mId of the messages exchanged with this peer, which names the
   * party behind that address the conversation is about (the SBC's core leg names each gateway so; docs/h248.md).
   */
  mid?: string;
}
export const peerKey = (p: Peer): string => (p.mid === undefined ? `${p.address}|${p.port}` : `${p.address}|${p.port}|${p.mid}`);
const samePeer = (a: Peer, b: Peer): boolean => a.port === b.port && a.address === b.address && a.mid === b.mid;

export interface IncomingRequest {
  peer: Peer;
  message: ParsedMessage;
  transaction: TransactionRequest;
}

/** What a handler answers: action replies, or one transaction-level error. */
export type ReplyContent = { actions: Action[]; error?: undefined } | { error: ErrorDescriptor; actions?: undefined };
export type RequestHandler = (req: IncomingRequest) => ReplyContent | Promise<ReplyContent>;

export type RequestOutcome =
  | { ok: true; reply: TransactionReply; message: ParsedMessage; pendings: number; sends: number }
  | { ok: false; kind: 'timeout' | 'closed' };

/** `undefined` lets the datagram through; an error answers its requests with it and drops the rest. */
export type InboundCheck = (peer: Peer, message: ParsedMessage, datagram: Buffer) => ErrorDescriptor | undefined;
export type Outbound = (peer: Peer, text: string) => Buffer;

export interface TransportTimers {
  t1Ms: number;
  maxIntervalMs: number;
  maxSends: number;
  pendingAfterMs: number;
  pendingWaitMs: number;
  replyCacheMs: number;
}
export const DEFAULT_TIMERS: TransportTimers = {
  t1Ms: 200,
  maxIntervalMs: 4000,
  maxSends: 7,
  pendingAfterMs: 100,
  pendingWaitMs: 15_000,
  replyCacheMs: 30_000,
};

export interface EndpointOptions {
  /** Our mId, written in every message. */
  mid: string;
  version?: number;
  onRequest: RequestHandler;
  inbound?: InboundCheck;
  outbound?: Outbound;
  timers?: Partial<TransportTimers>;
  immAck?: boolean;
  /**
   * Each message's mId names a party behind the sending address (Peer.mid): transactions and replies
   * are matched per address and mId, and what is sent to such a peer carries its mId, not ours. One
   * socket then carries many parties' conversations (the SBC's core leg; docs/h248.md "One core socket").
   */
  namedPeers?: boolean;
  /** Transactions to one peer in one turn share a message (default true). */
  piggyback?: boolean;
  maxCache?: number;
  maxOutstanding?: number;
  /** Measure how long datagrams wait in the socket (waitMs(); the SBC's overload gate reads it). */
  measureWait?: boolean;
  /** Called for problems worth a log line (never with key material). */
  onEvent?: (event: string, detail: Record<string, unknown>) => void;
}

export interface TransportStats {
  received: number;
  malformed: number;
  rejected: number;
  requests: number;
  duplicates: number;
  pendingSent: number;
  pendingReceived: number;
  retransmissions: number;
  timeouts: number;
  acksReceived: number;
  strayReplies: number;
  sendErrors: number;
  cached: number;
  outstanding: number;
  /** The first retransmission interval a request sent now gets, ms (t1, or longer while replies come late). */
  rtoMs: number;
}

interface Outstanding {
  peer: Peer;
  /** The transaction's text (a line); the message around it is made when it is sent. */
  line: string;
  /** performance.now() at the first send: the reply's delay, a sample for the retransmission timer. */
  sentAt: number;
  sends: number;
  interval: number;
  pendings: number;
  timer: NodeJS.Timeout | undefined;
  resolve: (o: RequestOutcome) => void;
}

interface CacheEntry {
  peer: Peer;
  done: boolean;
  line: string; // the reply transaction's text once done
  expiresAt: number;
  pendingTimer: NodeJS.Timeout | undefined;
}

const ACK_RANGE_MAX = 1024;
/** Peers with replies to acknowledge, ids per peer, and how long an ack waits for a reply to ride on. */
const MAX_ACK_PEERS = 10_000;
const MAX_ACKS_PER_MESSAGE = 32;
const ACK_HOLD_MS = 5000;
/** A piggy-backed message stays within one unfragmented datagram on any path, and within what a peer parses at once. */
const PIGGYBACK_BYTES = 1400;
const PIGGYBACK_TRANSACTIONS = 16;

/** What leaves for one transport address at the end of a turn: a message per named party (one without namedPeers). */
interface Batch {
  to: Peer;
  messages: BatchMessage[];
  transactions: number;
  bytes: number;
}
interface BatchMessage {
  peer: Peer;
  key: string;
  lines: string[];
  replies: boolean;
}

export class H248Endpoint {
  readonly socket: Socket;
  readonly #wait: SocketWait | undefined;
  /** Our mId; settable once the bound port is known. */
  mid: string;
  readonly version: number;
  readonly #o: EndpointOptions;
  readonly #t: TransportTimers;
  readonly #rto: RtoEstimator;
  /**
   * Our requests by transaction id: the ids are ours, one sequence per endpoint, so the id alone finds one and
   * its peer is then compared (a reply from anyone else is stray), without a key string per request and reply.
   */
  readonly #out = new Map<number, Outstanding>();
  readonly #cache = new Map<string, CacheEntry>();
  /** Replies received and not yet acknowledged, per peer: acknowledged on the next reply we send that peer. */
  readonly #toAck = new Map<string, { ids: number[]; since: number }>();
  #nextTid = randomInt(1, 0x7fffffff);
  #closed = false;
  readonly #piggyback: boolean;
  readonly #batches = new EndOfTurnBatcher<Batch>((_at, b) => this.#sendBatch(b));
  readonly #stats = { received: 0, malformed: 0, rejected: 0, requests: 0, duplicates: 0, pendingSent: 0, pendingReceived: 0, retransmissions: 0, timeouts: 0, acksReceived: 0, strayReplies: 0, sendErrors: 0 };

  constructor(socket: Socket, o: EndpointOptions) {
    this.socket = socket;
    this.mid = o.mid;
    this.version = o.version ?? 1;
    this.#o = o;
    this.#t = { ...DEFAULT_TIMERS, ...o.timers };
    this.#rto = new RtoEstimator(this.#t.t1Ms, this.#t.maxIntervalMs);
    this.#piggyback = o.piggyback ?? true;
    const wait = o.measureWait ? new SocketWait(socket).start() : undefined;
    this.#wait = wait;
    socket.on('message', (buf, rinfo) => {
      if (wait?.take(buf, rinfo)) return;
      this.#onDatagram(buf, rinfo);
    });
    // A send has no callback (below): a send that fails after leaving send() is reported here.
    socket.on('error', (err) => {
      this.#stats.sendErrors++;
      this.#o.onEvent?.('socket-error', { message: err.message });
    });
    H248Endpoint.#track(this);
  }

  /**
   * One timer sweeps the reply caches of every open endpoint: the SBC opens an
   * endpoint per gateway toward the softswitch, and an interval each was
   * thousands of timers firing every second.
   */
  static readonly #live = new Set<H248Endpoint>();
  static #sweeper: NodeJS.Timeout | undefined;

  static #track(ep: H248Endpoint): void {
    H248Endpoint.#live.add(ep);
    H248Endpoint.#sweeper ??= setInterval(() => {
      const now = Date.now();
      for (const e of H248Endpoint.#live) e.#sweep(now);
    }, 1000).unref();
  }

  static #untrack(ep: H248Endpoint): void {
    H248Endpoint.#live.delete(ep);
    if (H248Endpoint.#live.size === 0 && H248Endpoint.#sweeper) {
      clearInterval(H248Endpoint.#sweeper);
      H248Endpoint.#sweeper = undefined;
    }
  }

  /** Binds a UDP socket (IPv4 or IPv6 by the host's form) and starts an endpoint on it. */
  static async bind(at: { host: string; port: number }, o: EndpointOptions): Promise<H248Endpoint> {
    const socket = createSocket({ type: at.host.includes(':') ? 'udp6' : 'udp4', lookup: literalFirstLookup });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(at.port, at.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    try {
      socket.setRecvBufferSize(4 * 1024 * 1024);
      socket.setSendBufferSize(4 * 1024 * 1024);
    } catch {
      // Not fatal: the OS default is used.
    }
    return new H248Endpoint(socket, o);
  }

  /** Opens an endpoint at once; datagrams sent before the bind completes are queued by Node. */
  static open(at: { host: string; port: number }, o: EndpointOptions): H248Endpoint {
    const socket = createSocket({ type: at.host.includes(':') ? 'udp6' : 'udp4', lookup: literalFirstLookup });
    const ep = new H248Endpoint(socket, o);
    socket.bind(at.port, at.host);
    return ep;
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** The longest a datagram waited in the socket since the last call, ms (0 without measureWait). */
  waitMs(): number {
    return this.#wait?.waitMs() ?? 0;
  }

  stats(): TransportStats {
    return { ...this.#stats, cached: this.#cache.size, outstanding: this.#out.size, rtoMs: this.#rto.rtoMs };
  }

  #allocTid(): number {
    const id = this.#nextTid;
    this.#nextTid = id >= 0xfffffffe ? 1 : id + 1;
    return id;
  }

  /** Sends raw text to a peer through `outbound` (for messages outside a transaction). */
  send(peer: Peer, text: string): void {
    if (this.#closed) return;
    let datagram: Buffer;
    try {
      datagram = this.#o.outbound ? this.#o.outbound(peer, text) : Buffer.from(text, 'utf8');
    } catch (err) {
      this.#stats.sendErrors++;
      this.#o.onEvent?.('outbound-failed', { message: (err as Error).message });
      return;
    }
    // No callback: it cost a tick per datagram (and the default lookup another, even for an address literal);
    // a datagram lost here is one lost on the way, which retransmission covers.
    try {
      this.socket.send(datagram, peer.port, peer.address);
    } catch {
      // Node throws at once for a port it will not send to (0: a forged source port): in a datagram's handler that ended the process.
      this.#stats.sendErrors++;
    }
  }

  /** A whole message to `peer`: under its mId when it has one (namedPeers), else ours. */
  #message(peer: Peer, transactions: Transaction[]): string {
    return serializeMessage({ version: this.version, mid: peer.mid ?? this.mid, transactions });
  }

  /** Sends a transaction request and waits for its reply. Throws only if `actions` cannot be encoded. */
  request(peer: Peer, actions: Action[]): Promise<RequestOutcome> {
    if (this.#closed) return Promise.resolve({ ok: false, kind: 'closed' });
    if (this.#out.size >= (this.#o.maxOutstanding ?? 100_000)) return Promise.resolve({ ok: false, kind: 'timeout' });
    let id = this.#allocTid();
    // After a wrap of the 32-bit space, an id still outstanding (a request waiting on Pending) is skipped.
    while (this.#out.has(id)) id = this.#allocTid();
    const line = writeTransaction({ type: 'request', id, actions });
    return new Promise((resolve) => {
      const o: Outstanding = { peer, line, sentAt: performance.now(), sends: 0, interval: this.#rto.rtoMs, pendings: 0, timer: undefined, resolve };
      this.#out.set(id, o);
      this.#transmit(id, o);
    });
  }

  #transmit(key: number, o: Outstanding): void {
    if (o.sends > 0) {
      this.#stats.retransmissions++;
      this.send(o.peer, this.#head(o.peer) + o.line + '\n');
    } else this.#queue(o.peer, peerKey(o.peer), o.line, 'request');
    o.sends++;
    const wait = o.interval;
    o.interval = Math.min(o.interval * 2, this.#t.maxIntervalMs);
    o.timer = setTimeout(() => {
      if (o.sends >= this.#t.maxSends) this.#finish(key, o, { ok: false, kind: 'timeout' });
      else this.#transmit(key, o);
    }, wait);
  }

  #finish(key: number, o: Outstanding, outcome: RequestOutcome): void {
    clearTimeout(o.timer);
    this.#out.delete(key);
    if (!outcome.ok && outcome.kind === 'timeout') this.#stats.timeouts++;
    o.resolve(outcome);
  }

  #onDatagram(buf: Buffer, rinfo: RemoteInfo): void {
    this.#stats.received++;
    if (this.#o.namedPeers) {
      // Several messages, one per named party, may share the datagram (#sendBatch); each is vetted and handled alone.
      const all = parseMessages(buf, PIGGYBACK_TRANSACTIONS);
      if (!all.ok) return this.#malformed(all.error, rinfo);
      for (const msg of all.messages) this.#onMessage({ address: rinfo.address, port: rinfo.port, mid: msg.mid }, msg, buf);
      return;
    }
    const parsed = parseMessage(buf);
    if (!parsed.ok) return this.#malformed(parsed.error, rinfo);
    this.#onMessage({ address: rinfo.address, port: rinfo.port }, parsed.message, buf);
  }

  #malformed(error: ParseError, rinfo: RemoteInfo): void {
    this.#stats.malformed++;
    // Answer only what looks like H.248; anything else is dropped unanswered.
    if (error.looksLikeH248) {
      this.send({ address: rinfo.address, port: rinfo.port }, serializeMessage({ version: this.version, mid: this.mid, transactions: [], error: { code: error.code, text: error.reason } }));
    }
  }

  /** Our request `id` if it is outstanding toward `peer` (a reply or Pending from anyone else finds none). */
  #outstanding(peer: Peer, id: number): Outstanding | undefined {
    const o = this.#out.get(id);
    return o && samePeer(o.peer, peer) ? o : undefined;
  }

  #onMessage(peer: Peer, msg: ParsedMessage, buf: Buffer): void {
    const refused = this.#o.inbound?.(peer, msg, buf);
    if (refused) {
      this.#stats.rejected++;
      const answers: Transaction[] = msg.transactions.filter((t) => t.type === 'request').map((t) => ({ type: 'reply', id: (t as TransactionRequest).id, error: refused, actions: [] }));
      if (answers.length) this.send(peer, this.#message(peer, answers));
      return;
    }
    // The peer's key, made once per message: the reply cache, the acks and the batches are keyed by it.
    const pk = peerKey(peer);
    for (const t of msg.transactions) {
      switch (t.type) {
        case 'request':
          this.#onRequest(peer, pk, msg, t);
          break;
        case 'reply': {
          const o = this.#outstanding(peer, t.id);
          if (t.immAck) this.send(peer, this.#message(peer, [{ type: 'ack', ranges: [[t.id, t.id]] }]));
          if (!o) {
            this.#stats.strayReplies++;
            break;
          }
          if (!t.immAck) this.#noteAck(pk, t.id);
          if (o.pendings === 0) this.#rto.sample(performance.now() - o.sentAt);
          this.#finish(t.id, o, { ok: true, reply: t, message: msg, pendings: o.pendings, sends: o.sends });
          break;
        }
        case 'pending': {
          const id = t.id;
          const o = this.#outstanding(peer, id);
          this.#stats.pendingReceived++;
          if (!o) break;
          o.pendings++;
          clearTimeout(o.timer);
          o.timer = setTimeout(() => this.#finish(id, o, { ok: false, kind: 'timeout' }), this.#t.pendingWaitMs);
          break;
        }
        case 'ack':
          this.#stats.acksReceived++;
          for (const [lo, hi] of t.ranges) {
            if (hi - lo > ACK_RANGE_MAX) continue;
            for (let id = lo; id <= hi; id++) {
              const key = `${pk}#${id}`;
              if (this.#cache.get(key)?.done) this.#cache.delete(key);
            }
          }
          break;
      }
    }
  }

  /**
   * A reply to one of our requests is acknowledged (TransactionResponseAck,
   * H.248.1 Annex D.1.4) on the next reply we send that peer, so that the peer
   * can drop its copy of the reply before its 30 s are up: without it every
   * answered request stays in the answering side's cache for 30 s (three per
   * KS1 registration at the SBC and at the softswitch, against a cap of
   * maxCache). Only in a message that carries a reply (a request piggy-backed
   * on that reply may share it), so a request sent alone (a ServiceChange, say)
   * stays alone in its message. Not sent
   * alone: an ack that finds no reply to ride on is dropped with the sweep,
   * and the peer keeps its copy its full time, as before.
   */
  #noteAck(key: string, id: number): void {
    let pending = this.#toAck.get(key);
    if (!pending) {
      if (this.#toAck.size >= MAX_ACK_PEERS) return;
      pending = { ids: [], since: Date.now() };
      this.#toAck.set(key, pending);
    }
    if (pending.ids.length < MAX_ACKS_PER_MESSAGE) pending.ids.push(id);
  }

  /** The TransactionResponseAck line for the replies received from `key` and not yet acknowledged, if any. */
  #ackLine(key: string): string | undefined {
    if (this.#toAck.size === 0) return undefined;
    const pending = this.#toAck.get(key);
    if (!pending) return undefined;
    this.#toAck.delete(key);
    return writeTransaction({ type: 'ack', ranges: pending.ids.map((id): [number, number] => [id, id]) });
  }

  #head(peer: Peer): string {
    return `!/${this.version} ${peer.mid ?? this.mid}\n`;
  }

  /**
   * A transaction out: in the message to that peer that leaves at the end of
   * this turn of the event loop (one sendmsg, and one wake-up of the peer, for
   * a reply and the request that follows it), or alone when piggy-backing is off.
   */
  #queue(peer: Peer, key: string, line: string, kind: 'request' | 'reply'): void {
    if (this.#closed) return;
    if (!this.#piggyback) {
      this.#sendBatch({ to: peer, messages: [{ peer, key, lines: [line], replies: kind === 'reply' }], transactions: 1, bytes: 0 });
      return;
    }
    // Batched per transport address: with namedPeers, several parties' messages share the datagram.
    const at = peer.mid === undefined ? key : `${peer.address}|${peer.port}`;
    let b = this.#batches.get(at);
    let m = b && (b.messages.length === 1 ? (b.messages[0]!.key === key ? b.messages[0] : undefined) : b.messages.find((x) => x.key === key));
    // a new message in the batch adds its header: `!/<v> <mId>\n`
    const adds = line.length + 1 + (m ? 0 : (peer.mid ?? this.mid).length + 5);
    if (b && (b.transactions >= PIGGYBACK_TRANSACTIONS || b.bytes + adds > PIGGYBACK_BYTES)) {
      this.#batches.sendNow(at, b);
      b = m = undefined;
    }
    if (!b) {
      b = { to: peer, messages: [], transactions: 0, bytes: 0 };
      this.#batches.open(at, b);
    }
    if (!m) {
      b.messages.push((m = { peer, key, lines: [], replies: false }));
      b.bytes += (peer.mid ?? this.mid).length + 5;
    }
    m.lines.push(line);
    b.transactions++;
    b.bytes += line.length + 1;
    if (kind === 'reply') m.replies = true;
  }

  /** Acks ride on replies only: a request sent alone stays alone in its message (a ServiceChange, say). */
  #sendBatch(b: Batch): void {
    let text = '';
    for (const m of b.messages) {
      const ack = m.replies ? this.#ackLine(m.key) : undefined;
      text += this.#head(m.peer) + (m.lines.length === 1 ? m.lines[0]! + '\n' : m.lines.join('\n') + '\n');
      if (ack) text += ack + '\n';
    }
    this.send(b.to, text);
  }

  #sendPending(peer: Peer, id: number): void {
    this.#stats.pendingSent++;
    this.send(peer, this.#message(peer, [{ type: 'pending', id }]));
  }

  #onRequest(peer: Peer, pk: string, msg: ParsedMessage, t: TransactionRequest): void {
    const key = `${pk}#${t.id}`;
    const seen = this.#cache.get(key);
    if (seen) {
      this.#stats.duplicates++;
      if (seen.done) this.send(peer, this.#head(peer) + seen.line + '\n');
      else this.#sendPending(peer, t.id);
      return;
    }
    if (this.#cache.size >= (this.#o.maxCache ?? 100_000)) {
      this.send(peer, this.#message(peer, [{ type: 'reply', id: t.id, error: { code: 503, text: 'busy' }, actions: [] }]));
      return;
    }
    this.#stats.requests++;
    const entry: CacheEntry = { peer, done: false, line: '', expiresAt: Infinity, pendingTimer: undefined };
    this.#cache.set(key, entry);
    entry.pendingTimer = setTimeout(() => {
      if (!entry.done) this.#sendPending(peer, t.id);
    }, this.#t.pendingAfterMs);
    const complete = (content: ReplyContent) => {
      clearTimeout(entry.pendingTimer);
      const reply: TransactionReply = { type: 'reply', id: t.id, actions: content.actions ?? [] };
      if (this.#o.immAck) reply.immAck = true;
      if (content.error) reply.error = content.error;
      let line: string;
      try {
        line = writeTransaction(reply);
      } catch {
        line = writeTransaction({ type: 'reply', id: t.id, error: { code: 500, text: 'reply could not be encoded' }, actions: [] });
      }
      entry.done = true;
      entry.line = line;
      entry.expiresAt = Date.now() + this.#t.replyCacheMs;
      this.#queue(peer, pk, line, 'reply');
    };
    Promise.resolve()
      .then(() => this.#o.onRequest({ peer, message: msg, transaction: t }))
      .then(complete, (err: unknown) => {
        this.#o.onEvent?.('handler-failed', { message: err instanceof Error ? err.message : String(err) });
        complete({ error: { code: 500, text: 'internal error' } });
      });
  }

  /**
   * Drops answered requests past their time. The cache is in arrival order and
   * every answer is kept equally long, so the scan stops at the first answer
   * still to keep (one answered after later arrivals holds those back until it
   * goes, a handler's time at most) instead of walking the whole cache — 30 s
   * of a busy relay's requests, every second, stalling its event loop.
   */
  #sweep(now: number): void {
    for (const [key, a] of this.#toAck) {
      if (now - a.since < ACK_HOLD_MS) break;
      this.#toAck.delete(key);
    }
    for (const [key, e] of this.#cache) {
      if (!e.done) continue;
      if (e.expiresAt > now) break;
      this.#cache.delete(key);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#batches.flush();
    this.#closed = true;
    this.#wait?.stop();
    H248Endpoint.#untrack(this);
    for (const [key, o] of this.#out) this.#finish(key, o, { ok: false, kind: 'closed' });
    for (const e of this.#cache.values()) clearTimeout(e.pendingTimer);
    this.#cache.clear();
    this.#toAck.clear();
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}
