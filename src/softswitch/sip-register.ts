/**
 * The softswitch's REGISTER handling over the SIP stack: picks the
 * authentication path (KS1 via a trusted SBC, KS1 straight from a terminal,
 * SIP Digest, or a refresh proved by a mechanism), authenticates before any
 * change, then lets the registrar update the location store.
 * See docs/softswitch.md and docs/sip-core-link.md.
 */
import { isId } from '../flow/validate.js';
import type { SbcFlow, SbcReject, SbcSession } from '../flow/sbc.js';
import type { SoftswitchFlow, SwAuthenticateOutcome, SwChallenge, SwRegisterOutcome, Binding } from '../flow/softswitch.js';
import type { S2, S5 } from '../flow/messages.js';
import type { SessionKeys } from '../crypto/ks1.js';
import type { AucService } from '../contracts/auc.js';
import type { Logger } from '../log/logger.js';
import { isSipUri, randomToken, unescapeUri, type ServerContext, type SipRequest } from '../sip/index.js';
import { contactsOf, type RegisterPlan, type Registrar } from './registrar.js';
import type { DigestAuth, DigestParams } from './digest.js';
import type { SipBinding } from '../store/bindings.js';
import { chosenSecurityServer, encodeS5, encodeS6, encodeS9, encodeS10, isS7, readS1, readS7, readS8, SIP_FIELD } from '../adapters/sip/ks1-sip.js';
import { warningValue } from '../sip/proxy/warning.js';
import { sentByPort } from '../sip/proxy/ports.js';
import type { MessageSource } from '../sip/transport/types.js';
import { isRedisUnavailable } from '../store/redis/client.js';
import { RefreshReports, type RefreshReport } from './refresh-reports.js';

type Headers = Array<[string, string]>;
type AuthValue = ReturnType<SipRequest['auth']>[number];

let dateSecond = -1;
let dateText = '';
/** The 200's Date header (RFC 3261 §20.17): second resolution, so formatted once a second, not per REGISTER. */
function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateText = new Date(s * 1000).toUTCString();
  }
  return dateText;
}

interface ReportOptions {
  idsp: string;
  mechanism: string;
  /** The binding the flow reported itself (KS1 s11 with its Rand). */
  reported?: string;
  /** Report every binding, refreshes too (a Digest success that must clear failures at the AuC). */
  mustReport?: boolean;
}

export interface SoftswitchSipOptions {
  /** Digest realm, and the Warning agent. */
  realm: string;
  /** Is this source address a trusted SBC (whose P-KS-* headers are believed)? */
  trusted: (address: string) => boolean;
  registrar: Registrar;
  digest: DigestAuth;
  /** Already bounded in time (boundedAuc). */
  auc: AucService;
  flow: SoftswitchFlow;
  /** KS1 straight from terminals: the softswitch's own SbcFlow (identity and Kc,s). */
  direct?: SbcFlow;
  /** Kc,s of terminals registered straight here under tls-psk, by IDc (the TLS-PSK listener reads it). */
  pskSessions: Map<string, SessionKeys>;
  /** Retry-After on 503. */
  retryAfterSec: number;
  /**
   * How far the AuC's recorded expiry of an unchanged binding may lag the
   * binding's before a refresh is reported again (docs/auc.md, "Refresh
   * reports"); 0 or absent: every refresh is reported.
   */
  reportLagSec?: number;
  /** A registration accepted whose report to the AuC was spared (the metrics count it as a reported one). */
  onUnreported?: (protocol: 'sip', mechanism: string) => void;
  logger?: Logger;
}

export interface SoftswitchSipStats {
  registers: number;
  ok: number;
  challenges: number;
  badRequests: number;
  forbidden: number;
  unavailable: number;
  outOfOrder: number;
  digestFailures: number;
  ks1Failures: number;
  ks1Rechallenges: number;
  refreshesWithoutChallenge: number;
  pksStripped: number;
  reportFailures: number;
  /** Refreshes of an unchanged binding not reported to the AuC (its record lags by less than the bound). */
  refreshesNotReported: number;
  /** REGISTERs for an IDc the AuC refused (unknown, disabled, locked, no SIP password): answered as a wrong credential, logged with the reason. */
  refusedIdentities: number;
}

const ALLOW = 'REGISTER, OPTIONS';
const REFRESH_MECHANISMS = new Set(['app-hmac', 'tls-psk']);

interface Req {
  req: SipRequest;
  ctx: ServerContext;
  aor: string;
  plan: RegisterPlan;
  /** Terminal address for s11: P-KS-IPC from an SBC, else the source. */
  ipc: string;
}

export class SoftswitchRegisterHandler {
  readonly #o: SoftswitchSipOptions;
  readonly #selfId: string;
  readonly st: SoftswitchSipStats = {
    registers: 0, ok: 0, challenges: 0, badRequests: 0, forbidden: 0, unavailable: 0, outOfOrder: 0,
    digestFailures: 0, ks1Failures: 0, ks1Rechallenges: 0, refreshesWithoutChallenge: 0, pksStripped: 0, reportFailures: 0, refreshesNotReported: 0, refusedIdentities: 0,
  };
  readonly #reports: RefreshReports;

  constructor(o: SoftswitchSipOptions) {
    this.#o = o;
    this.#selfId = o.direct?.idsp ?? o.realm;
    this.#reports = new RefreshReports((o.reportLagSec ?? 0) * 1000);
  }

  /**
   * The stack's onRequest. Not async: a REGISTER answered at once (a Digest
   * challenge, a 400) costs no promise; the paths that wait return theirs.
   */
  onRequest = (req: SipRequest, ctx: ServerContext): void | Promise<void> => {
    if (req.method === 'ACK') return;
    if (req.method === 'OPTIONS') {
      this.#respond(ctx, 200, undefined, [['Allow', ALLOW]]);
      return;
    }
    if (req.method !== 'REGISTER') {
      this.#respond(ctx, 405, undefined, [['Allow', ALLOW]]);
      return;
    }
    this.st.registers++;
    const trusted = this.#o.trusted(ctx.source.address);
    if (!trusted) {
      // Only a trusted SBC may speak for a terminal; from anyone else these are forged.
      const before = req.headers.length;
      req.headers = req.headers.filter((h) => !h.key.startsWith('p-ks-'));
      if (req.headers.length !== before) this.st.pksStripped++;
    }
    const to = req.to();
    if (!isSipUri(to.uri) || !to.uri.user) {
      this.#respond(ctx, 404, 'Not Found', [['Warning', this.#warning('To names no user')]]);
      return;
    }
    const aor = unescapeUri(to.uri.user) + '@' + to.uri.host.toLowerCase();
    if (!isId(aor)) return this.#bad(ctx, 'Bad To', 'bad address-of-record');
    const pIdsp = trusted ? req.get('P-KS-IDSP')?.trim() : undefined;
    if (pIdsp !== undefined && !isId(pIdsp)) return this.#bad(ctx, 'Bad P-KS-IDSP', 'bad IDsp');
    const src = ctx.source;
    const planned = this.#o.registrar.plan({
      aor,
      callId: req.callId(),
      cseq: req.cseq().seq,
      contacts: contactsOf(req.contacts()),
      expires: req.expires(),
      source: bindingSource(req, ctx.source, pIdsp !== undefined),
      idsp: pIdsp ?? '',
      mechanism: '',
    });
    if (!planned.ok) {
      if (planned.status === 423) {
        this.#respond(ctx, 423, undefined, [['Min-Expires', String(planned.minExpires)]]);
        return;
      }
      return this.#bad(ctx, 'Bad Request', planned.reason);
    }
    const ipc = (pIdsp !== undefined ? req.get('P-KS-IPC')?.trim() : undefined) || src.address;
    const r: Req = { req, ctx, aor, plan: planned.plan, ipc };
    const auths = req.auth('Authorization');
    const ks1 = auths.find((a) => a.scheme.toLowerCase() === 'ks1');
    const digest = auths.find((a) => a.scheme.toLowerCase() === 'digest');

    if (pIdsp !== undefined) {
      const pAuth = /^\s*mechanism\s*=\s*"?([A-Za-z0-9.-]+)"?\s*$/i.exec(req.get('P-KS-Auth') ?? '');
      if (pAuth) return this.#refreshOr(r, pIdsp, pAuth[1]!.toLowerCase(), () => this.#fromSbc(r, pIdsp, ks1, digest));
      return this.#fromSbc(r, pIdsp, ks1, digest);
    }
    if (ks1) return this.#directKs1(r, ks1.params);
    if (digest) return this.#digest(r, '', digest.params);
    if (src.protocol === 'tls' && src.pskIdentity === aor) return this.#refreshOr(r, '', 'tls-psk', () => this.#digestChallenge(ctx, false));
    this.#digestChallenge(ctx, false);
  };

  /** A REGISTER an SBC relayed (its P-KS-IDSP believed), not a refresh proved by a mechanism. */
  #fromSbc(r: Req, pIdsp: string, ks1: AuthValue | undefined, digest: AuthValue | undefined): void | Promise<void> {
    if (ks1 && isS7(ks1.params)) return this.#coreS8(r, pIdsp, ks1.params);
    if (digest) return this.#digest(r, pIdsp, digest.params);
    // The SBC marks every KS1 s2 with a bare KS1 header; without it this is a
    // Digest phone, which must see only Digest challenges (many phones, and
    // sipp, read just the first WWW-Authenticate) and must not cost a vector.
    if (ks1) return this.#coreS2(r, pIdsp, false);
    return this.#digestChallenge(r.ctx, false);
  }

  /** A refresh proved by `mechanism` when the AoR has such a binding; otherwise `orElse`. */
  async #refreshOr(r: Req, idsp: string, mechanism: string, orElse: () => void | Promise<void>): Promise<void> {
    if (await this.#refresh(r, idsp, mechanism)) return;
    return orElse();
  }

  // ---- answers -------------------------------------------------------------

  #respond(ctx: ServerContext, status: number, reason?: string, headers: Headers = []): void {
    ctx.respond(status, reason, { toTag: randomToken(), headers });
  }

  #warning(text: string): string {
    return warningValue(this.#o.realm, text);
  }

  #bad(ctx: ServerContext, reason: string, detail: string): void {
    this.st.badRequests++;
    this.#respond(ctx, 400, reason, [['Warning', this.#warning(detail)]]);
  }

  /** 403 for what is wrong with the path, never with the identity (those are answered as wrong credentials). */
  #forbidden(ctx: ServerContext, reason: string): void {
    this.st.forbidden++;
    this.#o.logger?.warn({ reason, source: ctx.source.address }, 'softswitch: REGISTER refused');
    this.#respond(ctx, 403, undefined, [['Warning', this.#warning(reason)]]);
  }

  /**
   * The AuC refused this IDc. The terminal is answered exactly as one with a
   * wrong key or password (docs/softswitch.md, "Unknown, disabled, locked");
   * the reason goes to the log and the counters only.
   */
  #refused(r: Req, auth: 'ks1' | 'digest', reason: string): void {
    this.st.refusedIdentities++;
    this.#o.logger?.warn({ idc: r.aor, reason, auth, source: r.ctx.source.address }, 'softswitch: registration of a refused identity (answered as a wrong credential)');
  }

  #noteRefusal(r: Req, out: SwChallenge): void {
    if (out.refused) this.#refused(r, 'ks1', out.refused);
  }

  #unavailable(ctx: ServerContext): void {
    this.st.unavailable++;
    this.#respond(ctx, 503, undefined, [['Retry-After', String(this.#o.retryAfterSec)]]);
  }

  #digestHeaders(stale: boolean): Headers {
    return this.#o.digest.challengeValues(stale).map((v): [string, string] => ['WWW-Authenticate', v]);
  }

  #digestChallenge(ctx: ServerContext, stale: boolean): void {
    this.st.challenges++;
    this.#respond(ctx, 401, undefined, this.#digestHeaders(stale));
  }

  /** Non-success outcomes of the softswitch flow shared by every KS1 path. */
  #flowFailure(ctx: ServerContext, out: Exclude<SwRegisterOutcome | SwAuthenticateOutcome, { kind: 'challenge' } | { kind: 'accepted' }>): void {
    if (out.kind === 'forbidden') return this.#forbidden(ctx, out.reason);
    if (out.kind === 'unavailable') return this.#unavailable(ctx);
    return this.#bad(ctx, 'Bad Request', `bad ${out.field}`);
  }

  #sbcReject(ctx: ServerContext, rej: Exclude<SbcReject, { kind: 'rechallenge' }>): void {
    switch (rej.kind) {
      case 'bad-request': {
        const p = SIP_FIELD[rej.field] ?? rej.field;
        return this.#bad(ctx, `Bad KS1 ${p}`, `KS1 parameter ${p} missing or malformed`);
      }
      case 'wrong-proxy':
        return this.#forbidden(ctx, 'realm names another proxy');
      case 'refused':
        this.st.ks1Failures++;
        return this.#bad(ctx, rej.reason === 'ts-window' ? 'Bad KS1 ts' : 'Replayed KS1 n1', rej.reason === 'ts-window' ? 'ts outside the window' : 'n1 already seen');
      case 'no-common-mechanism':
        this.#respond(ctx, 494, undefined, [['Security-Server', rej.offered.text]]);
        return;
      case 'busy':
        return this.#unavailable(ctx);
      case 'internal':
        this.#respond(ctx, 500);
        return;
    }
  }

  /** Applies the plan and answers 200 (or 500 when the Call-ID/CSeq order forbids it). */
  async #commit(r: Req, report: ReportOptions, extra: Headers = []): Promise<boolean> {
    let res;
    try {
      res = await this.#o.registrar.apply(r.plan);
    } catch (err) {
      // The location store did not take the write in time (SQLite busy past its timeout, PostgreSQL
      // away): a temporary condition the terminal may retry (RFC 3261 §21.5.4), and worth a log line.
      this.#o.logger?.warn({ aor: r.aor, code: (err as { code?: unknown }).code ?? 'error' }, 'softswitch: location store write failed');
      this.#unavailable(r.ctx);
      return false;
    }
    if (!res.ok) {
      this.#outOfOrder(r);
      return false;
    }
    await this.#report(r, res.added, res.removed, res.before, report);
    this.st.ok++;
    const headers: Headers = this.#o.registrar.contactHeaders(res.live).map((c): [string, string] => ['Contact', c]);
    headers.push(['Date', httpDate()]);
    for (const h of extra) headers.push(h);
    this.#respond(r.ctx, 200, undefined, headers);
    return true;
  }

  /**
   * s11 for new and changed bindings (bar the one the flow already reported), and for refreshes unless
   * the AuC's record may lag (RefreshReports); de-registration for removed ones.
   */
  async #report(r: Req, added: SipBinding[], removed: SipBinding[], before: readonly SipBinding[], o: ReportOptions): Promise<void> {
    const auc = this.#o.auc;
    const reports = this.#reports;
    const calls: Promise<void>[] = [];
    const now = this.#o.registrar.now();
    for (const b of added) {
      if (b.contact === o.reported) {
        reports.forget(b.aor, b.contact);
        continue;
      }
      const sent: RefreshReport = { idsp: o.idsp, ipc: r.ipc, mechanism: o.mechanism };
      if (!o.mustReport && reports.spare(b, before, sent, now)) {
        reports.spared(b);
        this.st.refreshesNotReported++;
        this.#o.onUnreported?.('sip', o.mechanism);
        continue;
      }
      calls.push(
        auc.registered({ idc: r.aor, idsp: o.idsp, ipc: r.ipc, protocol: 'sip', contact: b.contact, mechanism: o.mechanism, expiresAt: b.expiresAt }).then(
          () => reports.reported(b, sent),
          (err: unknown) => {
            reports.forget(b.aor, b.contact);
            throw err;
          },
        ),
      );
    }
    for (const b of removed) {
      reports.forget(b.aor, b.contact);
      calls.push(auc.deregistered({ idc: b.aor, idsp: b.idsp || this.#selfId, protocol: 'sip', contact: b.contact }));
    }
    // a refresh whose report was spared waits for nothing
    if (calls.length) {
      const results = await Promise.allSettled(calls);
      const failed = results.filter((x) => x.status === 'rejected').length;
      if (failed) {
        this.st.reportFailures += failed;
        this.#o.logger?.warn({ aor: r.aor, failed }, 'softswitch: registration report to the AuC failed');
      }
    }
    if (removed.length) this.#forgetPsk(r.aor, removed);
  }

  #forgetPsk(aor: string, removed: readonly SipBinding[]): void {
    if (!removed.some((b) => b.idsp === '' && b.mechanism === 'tls-psk')) return;
    void this.#o.registrar.current(aor).then(
      (live) => {
        if (!live.some((b) => b.idsp === '' && b.mechanism === 'tls-psk')) this.#o.pskSessions.delete(aor);
      },
      () => undefined,
    );
  }

  /** Bindings expired by the sweeper: de-register them at the AuC. */
  async expired(gone: SipBinding[]): Promise<void> {
    const results = await Promise.allSettled(gone.map((b) => this.#o.auc.deregistered({ idc: b.aor, idsp: b.idsp || this.#selfId, protocol: 'sip', contact: b.contact })));
    this.st.reportFailures += results.filter((x) => x.status === 'rejected').length;
    for (const b of gone) {
      this.#reports.forget(b.aor, b.contact);
      this.#forgetPsk(b.aor, [b]);
    }
  }

  #binding(r: Req): Binding {
    const plan = r.plan;
    const first = plan.kind === 'update' ? plan.contacts.find((c) => c.expires > 0) : undefined;
    return { protocol: 'sip', contact: first?.uri ?? '', expiresAt: this.#o.registrar.now() + (first?.expires ?? 0) * 1000, ipc: r.ipc };
  }

  #withAuth(r: Req, idsp: string, mechanism: string): void {
    if (r.plan.kind === 'update') r.plan = { ...r.plan, idsp, mechanism };
  }

  // ---- refresh proved by a mechanism --------------------------------------

  async #refresh(r: Req, idsp: string, mechanism: string): Promise<boolean> {
    if (!REFRESH_MECHANISMS.has(mechanism)) return false;
    const live = await this.#o.registrar.current(r.aor);
    if (!live.some((b) => b.idsp === idsp && b.mechanism.toLowerCase() === mechanism)) return false;
    this.st.refreshesWithoutChallenge++;
    this.#withAuth(r, idsp, mechanism);
    await this.#commit(r, { idsp: idsp || this.#selfId, mechanism });
    return true;
  }

  // ---- KS1 through a trusted SBC (docs/sip-core-link.md) -----------------

  async #coreS2(r: Req, idsp: string, ambiguous: boolean): Promise<void> {
    const out = await this.#o.flow.onRegister({ idc: r.aor, idsp });
    if (out.kind === 'challenge') {
      this.#noteRefusal(r, out);
      this.st.challenges++;
      const h: Headers = [['WWW-Authenticate', encodeS5(out.s5)]];
      if (ambiguous) h.push(...this.#digestHeaders(false));
      this.#respond(r.ctx, 401, undefined, h);
      return;
    }
    if (ambiguous && out.kind === 'forbidden' && out.reason === 'unknown-proxy') return this.#digestChallenge(r.ctx, false);
    this.#flowFailure(r.ctx, out);
  }

  async #coreS8(r: Req, idsp: string, p: Record<string, string>): Promise<void> {
    const d = readS8(p, idsp, r.req.get('P-KS-Mech')?.trim(), r.req.get('P-KS-IPC')?.trim());
    if (!d.ok) return this.#bad(r.ctx, `Bad KS1 ${d.param}`, `KS1 parameter ${d.param} missing or malformed`);
    if (d.value.idc !== r.aor) return this.#bad(r.ctx, 'Bad KS1 username', 'username is not the To address-of-record');
    this.#withAuth(r, idsp, d.value.mech ?? '');
    if (await this.#o.registrar.wouldBeOutOfOrder(r.plan)) return this.#outOfOrder(r);
    const out = await this.#o.flow.onAuthenticate(d.value, this.#binding(r));
    if (out.kind === 'accepted') {
      await this.#commit(r, { idsp, mechanism: out.report.mechanism, reported: out.report.contact }, [['P-KS-Keys', encodeS9(out.s9)]]);
      return;
    }
    if (out.kind === 'challenge') {
      if (out.reason === 'wrong-authenticator') this.st.ks1Failures++;
      this.#noteRefusal(r, out);
      this.st.challenges++;
      this.#respond(r.ctx, 401, undefined, [['WWW-Authenticate', encodeS5(out.s5)]]);
      return;
    }
    this.#flowFailure(r.ctx, out);
  }

  #outOfOrder(r: Req): void {
    this.st.outOfOrder++;
    this.#respond(r.ctx, 500, 'Out Of Order', [['Warning', this.#warning('CSeq not above the binding\'s')]]);
  }

  // ---- KS1 straight from a terminal: the softswitch plays the SBC ----------

  async #directKs1(r: Req, p: Record<string, string>): Promise<void> {
    const sbc = this.#o.direct;
    if (!sbc) return this.#forbidden(r.ctx, 'KS1 needs an SBC here');
    if (!isS7(p)) {
      const d = readS1(p);
      if (!d.ok) return this.#sbcReject(r.ctx, { kind: 'bad-request', field: d.param === 'username' ? 'idc' : d.param });
      if (d.value.idc !== r.aor) return this.#bad(r.ctx, 'Bad KS1 username', 'username is not the To address-of-record');
      const s = sbc.onRegister(d.value);
      if (!s.ok) return this.#sbcReject(r.ctx, s as Exclude<SbcReject, { kind: 'rechallenge' }>);
      return this.#directChallenge(r, sbc, s.s2, { n1: d.value.n1 });
    }
    const sc = r.req.getAll('Security-Client');
    const d = readS7(p, sc.length ? sc.join(', ') : undefined);
    if (!d.ok) return this.#bad(r.ctx, `Bad KS1 ${d.param}`, `KS1 parameter ${d.param} missing or malformed`);
    if (d.value.idc !== r.aor) return this.#bad(r.ctx, 'Bad KS1 username', 'username is not the To address-of-record');
    const s = sbc.onAuthenticate(d.value, r.ctx.source.address);
    if (!s.ok) {
      if (s.kind === 'rechallenge') {
        this.st.ks1Rechallenges++;
        this.#o.logger?.warn({ idc: r.aor, reason: s.reason, source: r.ctx.source.address }, 'softswitch: KS1 s7 refused, new challenge');
        return this.#directChallenge(r, sbc, s.s2, { n1: d.value.n1 });
      }
      return this.#sbcReject(r.ctx, s);
    }
    this.#withAuth(r, '', s.pending.mech);
    if (await this.#o.registrar.wouldBeOutOfOrder(r.plan)) return this.#outOfOrder(r);
    const out = await this.#o.flow.onAuthenticate(s.s8, this.#binding(r));
    if (out.kind === 'accepted') {
      const acc = sbc.onAccepted(out.s9, s.pending);
      if (!acc.ok) {
        this.#o.logger?.error({ idc: r.aor, reason: acc.kind }, 'softswitch: s9 did not open with Kc,s');
        this.#respond(r.ctx, 500);
        return;
      }
      const ok = await this.#commit(r, { idsp: sbc.idsp, mechanism: out.report.mechanism, reported: out.report.contact }, [
        ['Authentication-Info', encodeS10(acc.s10)],
        ['Security-Server', chosenSecurityServer(acc.s10.mech, sbc.offered.items)],
      ]);
      if (ok) this.#keep(acc.session);
      return;
    }
    if (out.kind === 'challenge') {
      if (out.reason === 'wrong-authenticator') this.st.ks1Failures++;
      this.#noteRefusal(r, out);
      return this.#answerS5(r, sbc, out.s5, { n1: d.value.n1 });
    }
    this.#flowFailure(r.ctx, out);
  }

  #keep(session: SbcSession): void {
    if (session.mechanism.toLowerCase() === 'tls-psk') this.#o.pskSessions.set(session.idc, session.keys);
  }

  async #directChallenge(r: Req, sbc: SbcFlow, s2: S2, askedBy: { n1: Buffer }): Promise<void> {
    const out = await this.#o.flow.onRegister(s2);
    if (out.kind !== 'challenge') return this.#flowFailure(r.ctx, out);
    this.#noteRefusal(r, out);
    this.#answerS5(r, sbc, out.s5, askedBy);
  }

  #answerS5(r: Req, sbc: SbcFlow, s5: S5, askedBy: { n1: Buffer }): void {
    const s6 = sbc.onChallenge(s5, askedBy);
    if (!s6.ok) return this.#sbcReject(r.ctx, s6 as Exclude<SbcReject, { kind: 'rechallenge' }>);
    const enc = encodeS6(s6.s6);
    this.st.challenges++;
    const h: Headers = [['WWW-Authenticate', enc.wwwAuthenticate]];
    if (enc.securityServer) h.push(['Security-Server', enc.securityServer]);
    this.#respond(r.ctx, 401, undefined, h);
  }

  // ---- SIP Digest ------------------------------------------------------------

  async #digest(r: Req, idsp: string, p: DigestParams): Promise<void> {
    const dg = this.#o.digest;
    const c = dg.check(p, r.aor, idsp ? undefined : r.req.uri);
    if (!c.ok) {
      switch (c.kind) {
        case 'bad-request':
          return this.#bad(r.ctx, `Bad Digest ${c.field}`, `Digest parameter ${c.field} missing or malformed`);
        case 'stale':
          return this.#digestChallenge(r.ctx, true);
        default:
          return this.#digestChallenge(r.ctx, false);
      }
    }
    const reportIdsp = idsp || this.#selfId;
    let h;
    try {
      h = await this.#o.auc.digest({ idc: r.aor, username: c.username, realm: dg.realm, algorithm: c.algorithm });
    } catch {
      return this.#unavailable(r.ctx);
    }
    // A refused IDc is compared with a decoy HA1 and fails, reported and answered, as a wrong password does.
    const ha1 = h.ok ? h.ha1 : dg.decoyHa1(c.algorithm, r.aor);
    let settled;
    try {
      // a promise only where the nonce-counts are shared (Redis)
      settled = dg.settle(c, p, r.req.method, c.algorithm, ha1);
      if (typeof settled !== 'string') settled = await settled;
    } catch (err) {
      if (isRedisUnavailable(err)) return this.#unavailable(r.ctx);
      throw err;
    }
    // the right response on a nonce-count used already (here or at another instance): a new challenge, no failure counted
    if (settled === 'replayed' || settled === 'stale') return this.#digestChallenge(r.ctx, settled === 'stale');
    if (settled !== 'ok' || !h.ok) {
      this.st.digestFailures++;
      if (!h.ok) this.#refused(r, 'digest', h.reason);
      try {
        await this.#o.auc.failed({ idc: r.aor, idsp: reportIdsp });
      } catch {
        return this.#unavailable(r.ctx);
      }
      // locked or not, the answer is a new challenge: a lockout shows only in the log
      return this.#digestChallenge(r.ctx, false);
    }
    this.#withAuth(r, idsp, '');
    // A success clears the IDc's failures at the AuC only by a report (on this answer's grant): then even a refresh is reported.
    await this.#commit(r, { idsp: reportIdsp, mechanism: '', mustReport: h.failuresPending !== false });
  }
}

/**
 * Where a binding's requests go back, as `protocol:address:port`. Over UDP, and from a
 * terminal over a stream, the source itself (for a terminal's connection: RFC 5626 flow
 * reuse). From an SBC over a stream, its address at the port its Via names: the port it
 * listens on, not the connection's ephemeral one. Another softswitch instance has no
 * connection of its own at that port, and the SBC pool's failover (`softswitch.sbcPool`)
 * knows instances by their listening address.
 */
function bindingSource(req: SipRequest, src: MessageSource, viaSbc: boolean): string {
  if (!viaSbc || !src.transport.reliable) return `${src.protocol}:${src.address}:${src.port}`;
  // the parser refuses a request without a Via, so there is one
  return `${src.protocol}:${src.address}:${sentByPort(req.topVia()!)}`;
}
