/**
 * MGCP over UDP (RFC 3435 §3.5): one socket per entity, commands sent with
 * exponential back-off retransmission, received commands answered once
 * and then from a response cache keyed by (source, transaction id), a
 * provisional 100 when the answer takes longer than a threshold, and the
 * three-way handshake after a provisional (final response with an empty
 * `K:`, retransmitted until the `000` response acknowledgement).
 * Confirmed transaction ids go back to the peer in `K:` on the next command,
 * so it can drop its cached responses early.
 */
import dgram from 'node:dgram';
import { EndOfTurnBatcher } from '../lib/end-of-turn-batcher.js';
import { RtoEstimator } from '../lib/rto-estimator.js';
import { SocketWait } from '../lib/socket-wait.js';
import { literalFirstLookup } from '../lib/udp-lookup.js';
import type { Logger } from '../log/logger.js';
import { formatAckRanges, parseAckRanges } from './ack.js';
import { isProvisional, MGCP_CODE_TEXT } from './codes.js';
import { encodeMgcp } from './encode.js';
import { DEFAULT_LIMITS, parseMgcp, type ParseLimits } from './parse.js';
import { getParam, MAX_TID, param, type MgcpCommand, type MgcpParam, type MgcpResponse } from './types.js';

export const CALL_AGENT_PORT = 2727;
export const GATEWAY_PORT = 2427;

export interface MgcpPeer {
  host: string;
  port: number;
}

/** What a command handler answers; `after` runs once the response has been sent. */
export interface MgcpReply {
  code: number;
  text?: string;
  pkg?: string;
  params?: MgcpParam[];
  sdp?: Buffer;
  after?: () => void;
}

/** Answer, or null to drop the command without an answer (nothing is cached). */
export type CommandHandler = (cmd: MgcpCommand, from: MgcpPeer) => MgcpReply | null | Promise<MgcpReply | null>;

export interface TransportTimers {
  /**
   * First retransmission after this long (RFC 3435 suggests 200 ms); longer while responses are
   * measured late (RtoEstimator, RFC 3435 §4.3's adaptive timer), never shorter.
   */
  initialRtoMs: number;
  /** The back-off doubles up to this. */
  maxRtoMs: number;
  /** Sends of one command (first one included) before giving up. */
  maxAttempts: number;
  /** A 100 goes out when the handler has not answered after this long. */
  provisionalAfterMs: number;
  /** After a 100, how long to wait for the final response. */
  provisionalWaitMs: number;
  /** How long an answered command's response is kept for duplicates (T-HIST). */
  responseCacheMs: number;
  /**
   * How long the ids of a peer's answered commands wait for a command to
   * that peer to ride on (`K:`); then they are dropped and the peer keeps its
   * responses for its own T-HIST, as without `K:`.
   */
  ackHoldMs: number;
}

export const DEFAULT_TIMERS: TransportTimers = {
  initialRtoMs: 200,
  maxRtoMs: 4000,
  maxAttempts: 5,
  provisionalAfterMs: 200,
  provisionalWaitMs: 30_000,
  responseCacheMs: 30_000,
  ackHoldMs: 5000,
};

export interface MgcpTransportOptions extends Partial<TransportTimers> {
  host?: string;
  port?: number;
  onCommand: CommandHandler;
  limits?: ParseLimits;
  maxCachedResponses?: number;
  /** Peers whose answered commands' ids wait for a `K:` at once (default 10,000); past it a new peer's are not kept. */
  maxAckPeers?: number;
  /** Sees every datagram in and out (captures, tests); one going out may carry several messages (`piggyback`). */
  onPacket?: (dir: 'in' | 'out', data: Buffer, peer: MgcpPeer) => void;
  /**
   * Messages to one peer written in the same turn of the event loop leave in
   * one datagram, separated by `.` lines (RFC 3435 §3.5.5), within 4000 bytes
   * and 16 messages; default true. Each is still retransmitted on its own.
   */
  piggyback?: boolean;
  /** Measure how long datagrams wait in the socket (waitMs(); the SBC's overload gate reads it). */
  measureWait?: boolean;
  logger?: Logger;
}

export type SendResult = { ok: true; response: MgcpResponse } | { ok: false; error: 'timeout' | 'closed' };

export interface TransportStats {
  datagramsIn: number;
  datagramsOut: number;
  commandsIn: number;
  responsesIn: number;
  /** Duplicate commands answered from the cache (or with a 100 while in progress) instead of being processed again. */
  duplicates: number;
  provisionalSent: number;
  provisionalIn: number;
  responseAcksIn: number;
  responseAcksSent: number;
  retransmissions: number;
  timeouts: number;
  /** Datagrams that did not parse (answered 510 when the command line was readable, else dropped). */
  parseErrors: number;
  /** Responses for no outstanding transaction, or from the wrong address. */
  unmatched: number;
  handlerErrors: number;
  cachedResponses: number;
  /** Peers whose answered commands wait for a command to carry their `K:`. */
  pendingAcks: number;
  /** The first retransmission interval a command sent now gets, ms. */
  rtoMs: number;
}

interface CacheEntry {
  /**
   * The final response once there is one, as latin1 text (byte for byte): a
   * string of its own, where the encoded Buffer is a slice of an 8 KiB pool
   * block that it would keep alive, with everything else in it, for 30 s.
   */
  answer?: string;
  provisional: boolean;
  expiresAt: number;
  awaitingAck?: { timer: NodeJS.Timeout; attempts: number; rto: number; peer: MgcpPeer };
}

interface Outstanding {
  peer: MgcpPeer;
  data: Buffer;
  /** performance.now() at the first send: the response's delay, a sample for the retransmission timer. */
  sentAt: number;
  attempts: number;
  rto: number;
  /** A provisional came: the final response's delay is the peer's work, not the path. */
  provisional?: boolean;
  timer: NodeJS.Timeout;
  resolve: (r: SendResult) => void;
}

const peerKey = (p: MgcpPeer): string => `${p.host}|${p.port}`;
const PRUNE_PER_INSERT = 4;
/** A piggy-backed datagram stays within what every MGCP entity must take (RFC 3435 §3.5.5: 4000 bytes) and our own parse limits. */
const PIGGYBACK_BYTES = 4000;
const PIGGYBACK_MESSAGES = 16;
const PIGGYBACK_LINES = 200;
const SEPARATOR = Buffer.from('.\n');

/** Messages to one peer waiting for the end of this turn of the event loop. */
interface Batch {
  peer: MgcpPeer;
  parts: Buffer[];
  messages: number;
  bytes: number;
  lines: number;
}

const lineCount = (b: Buffer): number => {
  let n = 0;
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  return n;
};

/** Peers with answered commands to confirm at once; past it a new peer's are not kept (it keeps its responses their full time). */
const MAX_ACK_PEERS = 10_000;

/** Transaction ids to confirm to one peer with `K:`, and since when the first one waits. */
interface ToConfirm {
  tids: number[];
  since: number;
}

export class MgcpTransport {
  readonly #socket: dgram.Socket;
  readonly #wait: SocketWait | undefined;
  readonly #timers: TransportTimers;
  readonly #o: MgcpTransportOptions;
  readonly #limits: ParseLimits;
  readonly #maxCached: number;
  readonly #maxAckPeers: number;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #outstanding = new Map<number, Outstanding>();
  /** In order of the first id waiting, which is the order they are dropped in. */
  readonly #toConfirm = new Map<string, ToConfirm>();
  #nextTid: number;
  #closed = false;
  readonly #piggyback: boolean;
  readonly #batches = new EndOfTurnBatcher<Batch>((_key, b) => this.#sendBatch(b));
  readonly #rto: RtoEstimator;
  readonly #stats: Omit<TransportStats, 'cachedResponses' | 'pendingAcks' | 'rtoMs'> = {
    datagramsIn: 0, datagramsOut: 0, commandsIn: 0, responsesIn: 0, duplicates: 0, provisionalSent: 0, provisionalIn: 0,
    responseAcksIn: 0, responseAcksSent: 0, retransmissions: 0, timeouts: 0, parseErrors: 0, unmatched: 0, handlerErrors: 0,
  };

  private constructor(socket: dgram.Socket, o: MgcpTransportOptions) {
    this.#socket = socket;
    this.#o = o;
    this.#timers = {
      initialRtoMs: o.initialRtoMs ?? DEFAULT_TIMERS.initialRtoMs,
      maxRtoMs: o.maxRtoMs ?? DEFAULT_TIMERS.maxRtoMs,
      maxAttempts: o.maxAttempts ?? DEFAULT_TIMERS.maxAttempts,
      provisionalAfterMs: o.provisionalAfterMs ?? DEFAULT_TIMERS.provisionalAfterMs,
      provisionalWaitMs: o.provisionalWaitMs ?? DEFAULT_TIMERS.provisionalWaitMs,
      responseCacheMs: o.responseCacheMs ?? DEFAULT_TIMERS.responseCacheMs,
      ackHoldMs: o.ackHoldMs ?? DEFAULT_TIMERS.ackHoldMs,
    };
    this.#rto = new RtoEstimator(this.#timers.initialRtoMs, this.#timers.maxRtoMs);
    this.#limits = o.limits ?? DEFAULT_LIMITS;
    this.#maxCached = o.maxCachedResponses ?? 100_000;
    this.#maxAckPeers = o.maxAckPeers ?? MAX_ACK_PEERS;
    this.#piggyback = o.piggyback ?? true;
    // Random start so a restarted entity does not reuse ids its peers still cache.
    this.#nextTid = 1 + Math.floor(Math.random() * (MAX_TID / 2));
    const wait = o.measureWait ? new SocketWait(socket).start() : undefined;
    this.#wait = wait;
    socket.on('message', (buf, rinfo) => {
      if (wait?.take(buf, rinfo)) return;
      this.#onDatagram(buf, { host: rinfo.address, port: rinfo.port });
    });
    socket.on('error', (err) => this.#o.logger?.warn({ err: err.message }, 'mgcp socket error'));
    MgcpTransport.#track(this);
  }

  /**
   * One timer sweeps the caches of every open transport: a process of
   * gateways (a load generator, a lab) opens one per gateway, and an interval
   * each was a timer per gateway firing every second.
   */
  static readonly #live = new Set<MgcpTransport>();
  static #sweeper: NodeJS.Timeout | undefined;

  static #track(t: MgcpTransport): void {
    MgcpTransport.#live.add(t);
    MgcpTransport.#sweeper ??= setInterval(() => {
      const now = Date.now();
      for (const each of MgcpTransport.#live) each.#sweep(now);
    }, 1000).unref();
  }

  static #untrack(t: MgcpTransport): void {
    MgcpTransport.#live.delete(t);
    if (MgcpTransport.#live.size === 0 && MgcpTransport.#sweeper) {
      clearInterval(MgcpTransport.#sweeper);
      MgcpTransport.#sweeper = undefined;
    }
  }

  static open(o: MgcpTransportOptions): Promise<MgcpTransport> {
    // 4 MiB, not the OS's ~200 KB (a few hundred datagrams): a burst of gateways restarting together is queued for the
    // SBC's gate to answer, not dropped by the kernel unseen and retransmitted (as for H.248 and SIP)
    const socket = dgram.createSocket({ type: o.host?.includes(':') ? 'udp6' : 'udp4', lookup: literalFirstLookup, recvBufferSize: 4 * 1024 * 1024 });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(o.port ?? 0, o.host ?? '0.0.0.0', () => {
        socket.off('error', reject);
        resolve(new MgcpTransport(socket, o));
      });
    });
  }

  get port(): number {
    return this.#socket.address().port;
  }
  get address(): MgcpPeer {
    const a = this.#socket.address();
    return { host: a.address, port: a.port };
  }

  /** The longest a datagram waited in the socket since the last call, ms (0 without measureWait). */
  waitMs(): number {
    return this.#wait?.waitMs() ?? 0;
  }

  stats(): TransportStats {
    return { ...this.#stats, cachedResponses: this.#cache.size, pendingAcks: this.#toConfirm.size, rtoMs: this.#rto.rtoMs };
  }

  /** A fresh transaction id (callers that sign a command need it before sending). */
  nextTid(): number {
    const t = this.#nextTid;
    this.#nextTid = t >= MAX_TID ? 1 : t + 1;
    return t;
  }

  /** Sends a command and resolves with its final response, or timeout after the last retransmission. */
  send(to: MgcpPeer, cmd: Omit<MgcpCommand, 'kind' | 'tid'> & { tid?: number }): Promise<SendResult> {
    if (this.#closed) return Promise.resolve({ ok: false, error: 'closed' });
    const tid = cmd.tid ?? this.nextTid();
    let params = cmd.params;
    if (this.#toConfirm.size > 0 && getParam(cmd, 'K') === undefined) {
      const pk = peerKey(to);
      const confirm = this.#toConfirm.get(pk);
      if (confirm) {
        params = [...params, param('K', formatAckRanges(confirm.tids))];
        this.#toConfirm.delete(pk);
      }
    }
    const data = encodeMgcp({ ...cmd, kind: 'command', tid, params });
    return new Promise((resolve) => {
      const o: Outstanding = { peer: to, data, sentAt: performance.now(), attempts: 1, rto: this.#rto.rtoMs, resolve, timer: undefined as unknown as NodeJS.Timeout };
      o.timer = setTimeout(() => this.#retransmit(tid, o), o.rto);
      this.#outstanding.set(tid, o);
      this.#write(data, to);
    });
  }

  /** Sends bytes as they are, alone and at once (tests, captures). */
  sendRaw(data: Buffer, to: MgcpPeer): void {
    if (!this.#closed) this.#send(data, to);
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#batches.flush();
    this.#closed = true;
    this.#wait?.stop();
    MgcpTransport.#untrack(this);
    for (const o of this.#outstanding.values()) {
      clearTimeout(o.timer);
      o.resolve({ ok: false, error: 'closed' });
    }
    this.#outstanding.clear();
    for (const e of this.#cache.values()) if (e.awaitingAck) clearTimeout(e.awaitingAck.timer);
    this.#cache.clear();
    this.#toConfirm.clear();
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }

  /**
   * A message out: with others to the same peer at the end of this turn of
   * the event loop (one sendmsg and one wake-up of the peer instead of one
   * each), or alone when piggy-backing is off or it ends in a session
   * description (a separator would change its last line).
   */
  #write(data: Buffer, to: MgcpPeer): void {
    if (this.#closed) return;
    if (!this.#piggyback || data[data.length - 1] !== 10) {
      this.#send(data, to);
      return;
    }
    const key = peerKey(to);
    let b = this.#batches.get(key);
    if (b && b.lines < 0) b.lines = lineCount(b.parts[0]!);
    if (b && (b.messages >= PIGGYBACK_MESSAGES || b.bytes + SEPARATOR.length + data.length > PIGGYBACK_BYTES || b.lines + 1 + lineCount(data) > PIGGYBACK_LINES)) {
      this.#batches.sendNow(key, b);
      b = undefined;
    }
    if (!b) {
      this.#batches.open(key, { peer: to, parts: [data], messages: 1, bytes: data.length, lines: -1 });
      return;
    }
    b.parts.push(SEPARATOR, data);
    b.messages++;
    b.bytes += SEPARATOR.length + data.length;
    b.lines += 1 + lineCount(data);
  }

  #sendBatch(b: Batch): void {
    this.#send(b.parts.length === 1 ? b.parts[0]! : Buffer.concat(b.parts, b.bytes), b.peer);
  }

  /**
   * No callback: it would cost a tick per datagram, and a datagram lost here
   * is one lost on the way (retransmission covers both). Node throws at once
   * for a port it will not send to (0: a forged source port), which here
   * would end the process.
   */
  #send(data: Buffer, to: MgcpPeer): void {
    this.#stats.datagramsOut++;
    this.#o.onPacket?.('out', data, to);
    try {
      this.#socket.send(data, to.port, to.host);
    } catch (err) {
      this.#o.logger?.debug({ err: (err as Error).message, port: to.port }, 'mgcp send refused');
    }
  }

  #retransmit(tid: number, o: Outstanding): void {
    if (this.#outstanding.get(tid) !== o) return;
    if (o.attempts >= this.#timers.maxAttempts) {
      this.#outstanding.delete(tid);
      this.#stats.timeouts++;
      o.resolve({ ok: false, error: 'timeout' });
      return;
    }
    o.attempts++;
    o.rto = Math.min(o.rto * 2, this.#timers.maxRtoMs);
    this.#stats.retransmissions++;
    this.#write(o.data, o.peer);
    o.timer = setTimeout(() => this.#retransmit(tid, o), o.rto);
  }

  #onDatagram(buf: Buffer, from: MgcpPeer): void {
    if (this.#closed) return;
    this.#stats.datagramsIn++;
    this.#o.onPacket?.('in', buf, from);
    const r = parseMgcp(buf, this.#limits);
    if (!r.ok) {
      this.#stats.parseErrors++;
      if (r.command) {
        const key = `${peerKey(from)}|${r.command.tid}`;
        const cached = this.#cache.get(key);
        if (cached?.answer !== undefined) this.#write(Buffer.from(cached.answer, 'latin1'), from);
        else this.#finish(key, from, { code: 510, text: `Protocol error: ${r.error}` }, r.command.tid);
      }
      return;
    }
    for (const m of r.messages) {
      if (m.kind === 'command') this.#onCommand(m, from);
      else this.#onResponse(m, from);
    }
  }

  #onCommand(cmd: MgcpCommand, from: MgcpPeer): void {
    this.#stats.commandsIn++;
    const pk = peerKey(from);
    const k = getParam(cmd, 'K');
    if (k) {
      // The peer has our responses to these: they need not be cached any longer.
      for (const [lo, hi] of parseAckRanges(k) ?? []) {
        if (hi - lo > 256) continue;
        for (let t = lo; t <= hi; t++) this.#dropCached(`${pk}|${t}`);
      }
    }
    const key = `${pk}|${cmd.tid}`;
    const seen = this.#cache.get(key);
    if (seen) {
      this.#stats.duplicates++;
      if (seen.answer !== undefined) this.#write(Buffer.from(seen.answer, 'latin1'), from);
      else if (seen.provisional) this.#sendProvisional(cmd.tid, from);
      return;
    }
    const now = Date.now();
    const entry: CacheEntry = { provisional: false, expiresAt: now + 2 * this.#timers.responseCacheMs + this.#timers.provisionalWaitMs };
    if (this.#makeRoom(now)) this.#cache.set(key, entry);
    const slow = setTimeout(() => {
      if (entry.answer !== undefined || this.#closed) return;
      entry.provisional = true;
      this.#sendProvisional(cmd.tid, from);
    }, this.#timers.provisionalAfterMs);
    let reply: Promise<MgcpReply | null>;
    try {
      reply = Promise.resolve(this.#o.onCommand(cmd, from));
    } catch (err) {
      reply = Promise.reject(err);
    }
    reply.then(
      (rep) => {
        clearTimeout(slow);
        if (rep === null) {
          this.#cache.delete(key);
          return;
        }
        this.#finish(key, from, rep, cmd.tid, entry);
      },
      (err: unknown) => {
        clearTimeout(slow);
        this.#stats.handlerErrors++;
        this.#o.logger?.error({ err: err instanceof Error ? err.message : String(err), verb: cmd.verb }, 'mgcp command handler failed');
        this.#finish(key, from, { code: 400 }, cmd.tid, entry);
      },
    );
  }

  #sendProvisional(tid: number, to: MgcpPeer): void {
    this.#stats.provisionalSent++;
    this.#write(encodeMgcp({ kind: 'response', code: 100, tid, params: [] }), to);
  }

  /** Sends the final response and caches it; after a provisional it asks for (and waits for) the 000. */
  #finish(key: string, to: MgcpPeer, rep: MgcpReply, tid: number, entry?: CacheEntry): void {
    if (this.#closed) return;
    const e = entry ?? { provisional: false, expiresAt: 0 };
    const params = rep.params ?? [];
    const res: MgcpResponse = { kind: 'response', code: rep.code, tid, params: e.provisional ? [...params, param('K', '')] : params };
    const text = rep.text ?? MGCP_CODE_TEXT[rep.code];
    if (text !== undefined) res.text = text;
    if (rep.pkg !== undefined) res.pkg = rep.pkg;
    if (rep.sdp !== undefined) res.sdp = rep.sdp;
    let data: Buffer;
    try {
      data = encodeMgcp(res);
    } catch (err) {
      this.#stats.handlerErrors++;
      this.#o.logger?.error({ err: (err as Error).message }, 'mgcp reply did not encode');
      data = encodeMgcp({ kind: 'response', code: 400, tid, params: [] });
    }
    e.answer = data.toString('latin1');
    e.expiresAt = Date.now() + this.#timers.responseCacheMs;
    // Re-insert so the Map stays roughly in expiry order for pruning.
    this.#cache.delete(key);
    if (this.#makeRoom(Date.now())) this.#cache.set(key, e);
    this.#write(data, to);
    if (e.provisional) {
      const ack = { attempts: 1, rto: this.#timers.initialRtoMs, peer: to, timer: undefined as unknown as NodeJS.Timeout };
      const again = (): void => {
        if (this.#closed || this.#cache.get(key) !== e || ack.attempts >= this.#timers.maxAttempts) return;
        ack.attempts++;
        ack.rto = Math.min(ack.rto * 2, this.#timers.maxRtoMs);
        this.#stats.retransmissions++;
        this.#write(data, to);
        ack.timer = setTimeout(again, ack.rto);
      };
      ack.timer = setTimeout(again, ack.rto);
      e.awaitingAck = ack;
    }
    try {
      rep.after?.();
    } catch (err) {
      this.#stats.handlerErrors++;
      this.#o.logger?.error({ err: (err as Error).message }, 'mgcp after-reply hook failed');
    }
  }

  #onResponse(res: MgcpResponse, from: MgcpPeer): void {
    this.#stats.responsesIn++;
    if (res.code === 0) {
      this.#stats.responseAcksIn++;
      const e = this.#cache.get(`${peerKey(from)}|${res.tid}`);
      if (e?.awaitingAck) {
        clearTimeout(e.awaitingAck.timer);
        e.awaitingAck = undefined;
      }
      return;
    }
    const wantsAck = getParam(res, 'K') !== undefined;
    const o = this.#outstanding.get(res.tid);
    if (!o || o.peer.port !== from.port || o.peer.host !== from.host) {
      this.#stats.unmatched++;
      // A repeated final whose 000 was lost: acknowledge again.
      if (wantsAck && !isProvisional(res.code)) this.#sendAck(res.tid, from);
      return;
    }
    clearTimeout(o.timer);
    if (isProvisional(res.code)) {
      this.#stats.provisionalIn++;
      o.provisional = true;
      o.timer = setTimeout(() => {
        if (this.#outstanding.get(res.tid) !== o) return;
        this.#outstanding.delete(res.tid);
        this.#stats.timeouts++;
        o.resolve({ ok: false, error: 'timeout' });
      }, this.#timers.provisionalWaitMs);
      return;
    }
    this.#outstanding.delete(res.tid);
    if (!o.provisional) this.#rto.sample(performance.now() - o.sentAt);
    if (wantsAck) this.#sendAck(res.tid, from);
    else {
      const pk = peerKey(from);
      const list = this.#toConfirm.get(pk);
      if (list) {
        if (list.tids.length < 64) list.tids.push(res.tid);
      } else if (this.#toConfirm.size < this.#maxAckPeers) this.#toConfirm.set(pk, { tids: [res.tid], since: Date.now() });
    }
    o.resolve({ ok: true, response: res });
  }

  #sendAck(tid: number, to: MgcpPeer): void {
    this.#stats.responseAcksSent++;
    this.#write(encodeMgcp({ kind: 'response', code: 0, tid, params: [] }), to);
  }

  #dropCached(key: string): void {
    const e = this.#cache.get(key);
    if (e?.answer === undefined) return; // in progress: keep, so a duplicate is not processed twice
    if (e.awaitingAck) clearTimeout(e.awaitingAck.timer);
    this.#cache.delete(key);
  }

  #makeRoom(now: number): boolean {
    let n = 0;
    for (const [k, e] of this.#cache) {
      if (n++ >= PRUNE_PER_INSERT || e.expiresAt > now) break;
      this.#dropExpired(k, e);
    }
    return this.#cache.size < this.#maxCached;
  }

  #dropExpired(k: string, e: CacheEntry): void {
    if (e.awaitingAck) clearTimeout(e.awaitingAck.timer);
    this.#cache.delete(k);
  }

  /**
   * Drops responses past their time, and `K:` ids nothing carried. A final
   * response is (re-)inserted when sent and each is kept equally long, so the
   * cache is in expiry order from its first answered entry: the scan stops at
   * the first one still to keep instead of walking 30 s of a busy relay's
   * responses every second (a stall of its event loop). Commands still being
   * handled are passed over (and dropped at their own, longer, time).
   */
  #sweep(now: number): void {
    for (const [k, a] of this.#toConfirm) {
      if (now - a.since < this.#timers.ackHoldMs) break;
      this.#toConfirm.delete(k);
    }
    for (const [k, e] of this.#cache) {
      if (e.expiresAt > now) {
        if (e.answer !== undefined) break;
        continue;
      }
      this.#dropExpired(k, e);
    }
  }
}
