/**
 * An H.323 endpoint registering through the SBC over RAS.
 *
 * With a key (KS1): GRQ s1 → GRJ s6 (the challenge), RRQ s7 → RCF s10 (or
 * RRJ with a new challenge), then every message to and from the SBC carries
 * an app-hmac cryptoHashedToken: lightweight RRQs within the time to live,
 * URQ, and the gatekeeper's URQ answered with UCF.
 *
 * With a password (a plain H.235.1 endpoint, no KS1): GRQ → GCF names the
 * gatekeeper, then RRQ, lightweight RRQ and URQ carry H.235.1 tokens
 * (HMAC-SHA1-96 under SHA-1(password)) and the answers must carry the
 * gatekeeper's. No session key.
 */
import { createHash } from 'node:crypto';
import { AppHmacVerifier } from '../crypto/app-hmac.js';
import { TerminalFlow, type TerminalError } from '../flow/terminal.js';
import type { Clock, RandomBytes } from '../flow/messages.js';
import { DEFAULT_TS_WINDOW_SEC } from '../flow/replay.js';
import { OID, type RasMessage } from '../h323/index.js';
import { RasTransport, type RasAnswer, type RasPeer, type RasRequest, type RasResult, type RasTimers, type RasTransportStats } from '../h323/transport.js';
import { ks1Token, readS10, readS6, s1Token, s7Token, tokenHas } from '../adapters/h323/ks1.js';
import { grq, R, reasonName, rrq, transportAddress, ucf, urj, urq } from '../adapters/h323/messages.js';
import { KS_OID } from '../adapters/h323/oids.js';
import { isRetry } from '../adapters/h323/outcomes.js';
import { protect, verifyProtected, type RasSigner } from '../adapters/h323/protect.js';
import { h2351HashOk, h2351Key, h2351Token, signH2351, tsFresh } from '../adapters/h323/h2351.js';
import { DeadlineError, noAnswerFrom, withDeadline } from './deadline.js';

export interface H323EndpointOptions {
  idc: string;
  /** KS1: the long-term key Kc. */
  kc?: Buffer;
  /** A plain H.235.1 endpoint: its password (instead of a key). */
  password?: string;
  /** Insist on this SBC (gatekeeper) identity. */
  idsp?: string;
  /** The SBC as an IP address and port (answers are matched by source address). */
  sbc: { host: string; port: number };
  /** KS1 mechanism list with priorities; default `app-hmac;q=0.5`. */
  mechs?: string;
  /** Where to bind; default 0.0.0.0, an ephemeral port. */
  local?: { host?: string; port?: number };
  /** timeToLive asked for, seconds (default 300). */
  timeToLive?: number;
  /** New challenges answered after a stale or replayed step, before giving up (default 3). */
  maxChallenges?: number;
  tsWindowSec?: number;
  timers?: Partial<RasTimers>;
  clock?: Clock;
  random?: RandomBytes;
  onPacket?: (dir: 'in' | 'out', data: Buffer, peer: RasPeer) => void;
}

export type H323RegisterOutcome =
  | { ok: true; idsp: string; mechanism: string; sessionKeyId: string; endpointIdentifier: string; timeToLive: number; ms: number }
  | { ok: false; kind: 'auth-failed' | 'error'; message: string };

export type H323Outcome = { ok: true } | { ok: false; message: string };

/** What the terminal CLI reports (same shape as the other protocols; the key id is not the key). */
export type H323Result =
  | { ok: true; protocol: 'h323'; idc: string; idsp: string; mechanism: string; sessionKeyId: string; ms: number }
  | { ok: false; protocol: 'h323'; idc: string; error: string; authFailed: boolean; ms: number };

interface Ks1Session {
  kind: 'ks1';
  idsp: string;
  eid: string;
  out: RasSigner;
  in: AppHmacVerifier;
  keyId: string;
}
interface PlainSession {
  kind: 'h235.1';
  idsp: string;
  eid: string;
}

const sessionKeyId = (kcsp: Buffer): string => createHash('sha256').update(kcsp).digest('hex').slice(0, 8);

export class H323Endpoint {
  readonly #o: H323EndpointOptions;
  readonly #t: RasTransport;
  readonly #sbc: RasPeer;
  readonly #clock: Clock;
  readonly #key: Buffer | undefined;
  #session: Ks1Session | PlainSession | undefined;
  #random = 1;
  #unregisteredByGatekeeper = false;
  #downlinkRejected = 0;

  private constructor(o: H323EndpointOptions, t: RasTransport) {
    this.#o = o;
    this.#t = t;
    this.#sbc = { host: o.sbc.host, port: o.sbc.port };
    this.#clock = o.clock ?? Date.now;
    this.#key = o.password !== undefined ? h2351Key(o.password) : undefined;
  }

  static async open(o: H323EndpointOptions): Promise<H323Endpoint> {
    if (!o.kc === (o.password === undefined)) throw new RangeError('an H.323 endpoint needs a key (KS1) or a password (H.235.1), not both');
    let ep: H323Endpoint | undefined;
    const t = await RasTransport.open({
      host: o.local?.host ?? '0.0.0.0',
      port: o.local?.port ?? 0,
      onRequest: (req) => ep!.#onRequest(req),
      ...(o.timers ? { timers: o.timers } : {}),
      ...(o.onPacket ? { onPacket: o.onPacket } : {}),
    });
    ep = new H323Endpoint(o, t);
    return ep;
  }

  get port(): number {
    return this.#t.port;
  }
  get registered(): boolean {
    return this.#session !== undefined;
  }
  get endpointIdentifier(): string | undefined {
    return this.#session?.eid;
  }
  get unregisteredByGatekeeper(): boolean {
    return this.#unregisteredByGatekeeper;
  }
  stats(): { transport: RasTransportStats; downlinkRejected: number } {
    return { transport: this.#t.stats(), downlinkRejected: this.#downlinkRejected };
  }

  #rasAddress: ReturnType<typeof transportAddress> | undefined;
  #ras() {
    const bound = this.#t.address;
    const host = bound === '0.0.0.0' || bound === '::' ? (this.#sbc.host.startsWith('127.') ? '127.0.0.1' : '0.0.0.0') : bound;
    return (this.#rasAddress ??= transportAddress(host, this.#t.port));
  }
  #ttl(): number {
    return this.#o.timeToLive ?? 300;
  }
  #nextRandom(): number {
    const r = this.#random;
    this.#random = (this.#random % 0x7fffffff) + 1;
    return r;
  }

  register(): Promise<H323RegisterOutcome> {
    return this.#key ? this.#registerPlain(this.#key) : this.#registerKs1(this.#o.kc!);
  }

  async #registerKs1(kc: Buffer): Promise<H323RegisterOutcome> {
    const started = performance.now();
    const idc = this.#o.idc;
    const flow = new TerminalFlow({
      idc, kc, mechanisms: this.#o.mechs ?? 'app-hmac;q=0.5',
      ...(this.#o.idsp !== undefined ? { idsp: this.#o.idsp } : {}),
      ...(this.#o.clock ? { clock: this.#o.clock } : {}),
      ...(this.#o.random ? { random: this.#o.random } : {}),
    });
    this.#session = undefined;
    const s1 = flow.start();
    const g = await this.#t.request(this.#sbc, (seq) =>
      grq(seq, { ras: this.#ras(), alias: idc, ...(s1.idsp ? { gatekeeperId: s1.idsp } : {}), tokens: [s1Token(s1)], capability: [{ type: 'keyExch', value: KS_OID.ks1 }] }),
    );
    if (!g.ok) return { ok: false, kind: 'error', message: `no answer to GRQ (${g.error})` };
    if (g.message.type === 'gatekeeperConfirm') return { ok: false, kind: 'error', message: 'the gatekeeper confirmed without KS1 (GCF)' };
    if (g.message.type !== 'gatekeeperReject') return { ok: false, kind: 'error', message: `unexpected ${g.message.type}` };
    const reason = g.message.value.rejectReason;
    const t6 = ks1Token(g.message.value.tokens);
    if (reason.type !== 'securityDenial' || !t6) return refused('GRQ', reasonName(reason));
    let s6 = readS6(t6);
    let challenges = 0;
    for (;;) {
      if (!s6.ok) return { ok: false, kind: 'error', message: `bad challenge (${s6.field})` };
      const s7 = flow.onChallenge(s6.value);
      if (!s7.ok) return { ok: false, kind: 'auth-failed', message: `challenge refused: ${s7.error}` };
      const r = await this.#t.request(this.#sbc, (seq) =>
        rrq(seq, { ras: this.#ras(), alias: idc, gatekeeperId: s6.ok ? s6.value.idsp : '', timeToLive: this.#ttl(), tokens: [s7Token(s7.value)] }),
      );
      if (!r.ok) return { ok: false, kind: 'error', message: `no answer to RRQ (${r.error})` };
      const m = r.message;
      if (m.type === 'registrationConfirm') {
        const t10 = ks1Token(m.value.tokens);
        const s10 = t10 ? readS10(t10) : undefined;
        if (!s10?.ok) return { ok: false, kind: 'auth-failed', message: `s10 refused: bad-message` };
        const done = flow.onSuccess(s10.value);
        if (!done.ok) return { ok: false, kind: 'auth-failed', message: `s10 refused: ${done.error satisfies TerminalError}` };
        const keys = done.value.keys;
        this.#session = {
          kind: 'ks1',
          idsp: done.value.idsp,
          eid: m.value.endpointIdentifier,
          out: { kApp: keys.kAppHmac, dir: 'uplink', next: 1 },
          in: new AppHmacVerifier(keys.kAppHmac, 'downlink'),
          keyId: sessionKeyId(keys.sessionKey),
        };
        return {
          ok: true, idsp: done.value.idsp, mechanism: done.value.mechanism, sessionKeyId: this.#session.keyId, endpointIdentifier: m.value.endpointIdentifier,
          timeToLive: m.value.timeToLive ?? this.#ttl(), ms: performance.now() - started,
        };
      }
      if (m.type !== 'registrationReject') return { ok: false, kind: 'error', message: `unexpected ${m.type}` };
      const why = m.value.rejectReason;
      const tok = ks1Token(m.value.tokens);
      if (why.type === 'neededFeatureNotSupported') return { ok: false, kind: 'error', message: `no common mechanism; offered: ${tok ? tokenHas.offer(tok) ?? '' : ''}` };
      // A stale or replayed step comes with a fresh challenge; a wrong key (securityDenial) ends here.
      if (isRetry(why) && tok && ++challenges <= (this.#o.maxChallenges ?? 3)) {
        s6 = readS6(tok) as typeof s6;
        continue;
      }
      return refused('RRQ', reasonName(why));
    }
  }

  async #registerPlain(key: Buffer): Promise<H323RegisterOutcome> {
    const started = performance.now();
    const idc = this.#o.idc;
    this.#session = undefined;
    const g = await this.#t.request(this.#sbc, (seq) =>
      grq(seq, {
        ras: this.#ras(), alias: idc, ...(this.#o.idsp ? { gatekeeperId: this.#o.idsp } : {}),
        capability: [{ type: 'pwdHash', value: null }], algorithmOIDs: [OID.h2351AllFields, OID.hmacSha1_96],
      }),
    );
    if (!g.ok) return { ok: false, kind: 'error', message: `no answer to GRQ (${g.error})` };
    if (g.message.type === 'gatekeeperReject') return refused('GRQ', reasonName(g.message.value.rejectReason));
    if (g.message.type !== 'gatekeeperConfirm' || !g.message.value.gatekeeperIdentifier) return { ok: false, kind: 'error', message: 'no gatekeeper identifier in GCF' };
    const gk = g.message.value.gatekeeperIdentifier;
    if (this.#o.idsp !== undefined && gk !== this.#o.idsp) return { ok: false, kind: 'auth-failed', message: 'wrong-identity' };
    const r = await this.#t.request(this.#sbc, (seq) =>
      signH2351(rrq(seq, { ras: this.#ras(), alias: idc, gatekeeperId: gk, timeToLive: this.#ttl() }), key, { nowMs: this.#clock(), random: this.#nextRandom(), generalID: gk, sendersID: idc }),
    );
    if (!r.ok) return { ok: false, kind: 'error', message: `no answer to RRQ (${r.error})` };
    const m = r.message;
    if (m.type === 'registrationReject') return refused('RRQ', reasonName(m.value.rejectReason));
    if (m.type !== 'registrationConfirm') return { ok: false, kind: 'error', message: `unexpected ${m.type}` };
    const eid = m.value.endpointIdentifier;
    const bad = this.#checkPlain(r, key, gk, [eid, idc]);
    if (bad) return { ok: false, kind: 'auth-failed', message: `RCF refused: ${bad}` };
    this.#session = { kind: 'h235.1', idsp: gk, eid };
    return { ok: true, idsp: gk, mechanism: 'h235.1', sessionKeyId: '', endpointIdentifier: eid, timeToLive: m.value.timeToLive ?? this.#ttl(), ms: performance.now() - started };
  }

  /** Why an answer from the gatekeeper does not verify under the password key, if it does not. */
  #checkPlain(r: Extract<RasResult, { ok: true }>, key: Buffer, gk: string, me: string[]): string | undefined {
    const t = h2351Token(r.message);
    if (!t) return 'not signed';
    if (t.hashedVals.sendersID !== undefined && t.hashedVals.sendersID !== gk) return 'wrong sendersID';
    if (t.hashedVals.generalID === undefined || !me.includes(t.hashedVals.generalID)) return 'wrong generalID';
    if (!tsFresh(t, this.#clock(), this.#o.tsWindowSec ?? DEFAULT_TS_WINDOW_SEC)) return 'stale';
    if (!h2351HashOk(r.bytes, r.locate, t, key)) return 'bad hash';
    return undefined;
  }

  /** Checks an answer from the SBC under the session (app-hmac); the reason it fails, if it does. */
  #checkKs1(r: Extract<RasResult, { ok: true }>, s: Ks1Session): string | undefined {
    const v = verifyProtected(r.message, r.bytes, r.locate, s.in, { sendersID: [s.idsp], generalID: s.eid, nowMs: this.#clock(), windowSec: this.#o.tsWindowSec ?? DEFAULT_TS_WINDOW_SEC });
    return v === 'ok' ? undefined : v;
  }

  /** A message to the SBC protected as the session requires. */
  #protected(m: RasMessage, s: Ks1Session | PlainSession): Buffer {
    if (s.kind === 'ks1') return protect(m, s.out, { sendersID: s.eid, generalID: s.idsp }, this.#clock());
    return signH2351(m, this.#key!, { nowMs: this.#clock(), random: this.#nextRandom(), generalID: s.idsp, sendersID: s.eid });
  }

  #verify(r: Extract<RasResult, { ok: true }>, s: Ks1Session | PlainSession): string | undefined {
    return s.kind === 'ks1' ? this.#checkKs1(r, s) : this.#checkPlain(r, this.#key!, s.idsp, [s.eid, this.#o.idc]);
  }

  /** A lightweight RRQ (keepAlive) within the time to live, protected. */
  async keepAlive(): Promise<H323Outcome & { timeToLive?: number }> {
    const s = this.#session;
    if (!s) return { ok: false, message: 'not registered' };
    const r = await this.#t.request(this.#sbc, (seq) => this.#protected(rrq(seq, { ras: this.#ras(), keepAlive: true, endpointIdentifier: s.eid, gatekeeperId: s.idsp, timeToLive: this.#ttl() }), s));
    if (!r.ok) return { ok: false, message: `no answer (${r.error})` };
    const bad = this.#verify(r, s);
    if (bad) return { ok: false, message: `answer refused: ${bad}` };
    if (r.message.type === 'registrationConfirm') return { ok: true, timeToLive: r.message.value.timeToLive ?? this.#ttl() };
    if (r.message.type === 'registrationReject') {
      if (r.message.value.rejectReason.type === 'fullRegistrationRequired') this.#session = undefined;
      return { ok: false, message: reasonName(r.message.value.rejectReason) };
    }
    return { ok: false, message: `unexpected ${r.message.type}` };
  }

  async unregister(): Promise<H323Outcome> {
    const s = this.#session;
    if (!s) return { ok: false, message: 'not registered' };
    const r = await this.#t.request(this.#sbc, (seq) => this.#protected(urq(seq, { endpointIdentifier: s.eid, alias: this.#o.idc, gatekeeperId: s.idsp }), s));
    if (!r.ok) return { ok: false, message: `no answer (${r.error})` };
    const bad = this.#verify(r, s);
    if (bad) return { ok: false, message: `answer refused: ${bad}` };
    this.#session = undefined;
    return r.message.type === 'unregistrationConfirm' ? { ok: true } : { ok: false, message: r.message.type === 'unregistrationReject' ? reasonName(r.message.value.rejectReason) : r.message.type };
  }

  /** The gatekeeper's URQ (through the SBC), checked under the session. */
  #onRequest(req: RasRequest): RasAnswer {
    const s = this.#session;
    if (req.peer.host !== this.#sbc.host || req.peer.port !== this.#sbc.port) return null;
    if (req.message.type !== 'unregistrationRequest') return null;
    if (!s || req.message.value.endpointIdentifier !== s.eid) return urj(req.seq, R.notCurrentlyRegistered);
    if (s.kind !== 'ks1') return null;
    const v = verifyProtected(req.message, req.bytes, req.locate, s.in, { sendersID: [s.idsp], generalID: s.eid, nowMs: this.#clock(), windowSec: this.#o.tsWindowSec ?? DEFAULT_TS_WINDOW_SEC });
    if (v !== 'ok') {
      this.#downlinkRejected++;
      return urj(req.seq, R.securityError(v === 'replayed' || v === 'too-old' ? 'securityReplay' : v === 'stale' ? 'securityWrongSyncTime' : 'securityIntegrityFailed'));
    }
    const answer = this.#protected(ucf(req.seq), s);
    this.#session = undefined;
    this.#unregisteredByGatekeeper = true;
    return answer;
  }

  close(): Promise<void> {
    return this.#t.close();
  }
}

function refused(what: string, reason: string): H323RegisterOutcome {
  // Security reasons are authentication failures; the rest (resources, protocol) are errors.
  const auth = reason === 'securityDenial' || reason.startsWith('securityError') || reason === 'terminalExcluded';
  return { ok: false, kind: auth ? 'auth-failed' : 'error', message: `${what} rejected: ${reason}` };
}

/**
 * One registration for `keyswitch terminal register --proto h323`: KS1, then
 * the mechanism proved with one protected lightweight RRQ, as the other
 * protocols prove theirs with one protected command.
 */
export async function registerH323(o: H323EndpointOptions & { deadlineMs?: number }): Promise<H323Result> {
  const t0 = performance.now();
  const ms = () => Math.round((performance.now() - t0) * 10) / 10;
  const fail = (error: string, authFailed: boolean): H323Result => ({ ok: false, protocol: 'h323', idc: o.idc, error, authFailed, ms: ms() });
  let ep: H323Endpoint | undefined;
  const work = (async (): Promise<H323Result> => {
    ep = await H323Endpoint.open(o);
    const r = await ep.register();
    if (!r.ok) return fail(r.message, r.kind === 'auth-failed');
    const proof = await ep.keepAlive();
    if (!proof.ok) return fail(`protected lightweight RRQ after registration was refused (${proof.message})`, false);
    return { ok: true, protocol: 'h323', idc: o.idc, idsp: r.idsp, mechanism: r.mechanism, sessionKeyId: r.sessionKeyId, ms: ms() };
  })();
  try {
    return o.deadlineMs === undefined ? await work : await withDeadline(o.deadlineMs, noAnswerFrom(o.sbc), work, () => ep?.close());
  } catch (e) {
    if (e instanceof DeadlineError) return fail(e.message, false);
    return fail((e as Error).message ?? String(e), false);
  } finally {
    await ep?.close().catch(() => undefined);
  }
}


