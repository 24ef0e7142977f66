/**
 * REGISTER at the SBC: the KS1 flow (s1 → s2, s5 → s6, s7 → s8, s9 → s10),
 * refreshes proved by the terminal's mechanism, and transparent Digest.
 */
import {
  aorOf, chosenSecurityServer, decodeS1, encodeS2Authorization, decodeS5, decodeS7, decodeS9, encodeS6, encodeS8Authorization, encodeS10, findKs1, isS7,
  P_KS_AUTH, P_KS_IDSP, P_KS_IPC, P_KS_MECH, removeKs1Authorization, securityClientText, SIP_FIELD,
} from '../adapters/sip/ks1-sip.js';
import { KS_HMAC } from '../adapters/sip/sbc-app-hmac.js';
import type { Logger } from 'pino';
import type { SbcFlow, SbcReject } from '../flow/sbc.js';
import type { SbcReplayState } from '../flow/sbc-state.js';
import type { Mechanism } from '../flow/messages.js';
import { isStar, type ServerContext, type SipRequest, type SipResponse, type Uri } from '../sip/index.js';
import { sameIdentity } from '../sip/uri-compare.js';
import type { SbcSides } from './sip-sides.js';
import type { SipGuard } from './sip-guard.js';
import type { ContactMap } from './sip-contacts.js';
import type { SbcMetrics } from './sip-metrics.js';
import type { RegisteredTerminal, SessionTable } from './sessions.js';

/** What REGISTER handling needs; given by the composition root (run.ts). */
export interface RegisterDeps {
  sides: SbcSides;
  idsp: string;
  flow: SbcFlow<SbcReplayState>;
  /** What the SBC offers (for 494 and the chosen Security-Server's q). */
  offered: Mechanism[];
  sessions: SessionTable;
  guard: SipGuard;
  /** Ports of the TLS listeners, advertised as `port=` on s10's Security-Server. */
  tlsPorts: { tls?: number; tlsPsk?: number };
  defaultExpiresSec: number;
  now: () => number;
  contacts?: ContactMap | undefined;
  metrics?: SbcMetrics | undefined;
  logger?: Logger | undefined;
}

export async function handleRegister(p: RegisterDeps, req: SipRequest, ctx: ServerContext): Promise<void> {
  const idc = aorOf(req.to());
  let taken = contactTaken(p, req, idc);
  if (taken instanceof Promise) taken = await taken; // only with a shared (Redis) contact store
  if (taken) return p.sides.refuse(ctx, req, 'forbidden', 'a Contact registered by another subscriber');
  const ks1 = findKs1(req);
  if (ks1.kind === 'malformed') return badParam(p, ctx, req, 'Authorization');
  if (ks1.kind === 'ks1') {
    if (ctx.source.pskIdentity !== undefined && !sameIdentity(ctx.source.pskIdentity, idc)) {
      return p.sides.refuse(ctx, req, 'transport-binding', 'TLS-PSK identity does not match the To URI');
    }
    const params = ks1.params;
    if (params.username !== undefined && params.username !== idc) {
      return p.sides.refuse(ctx, req, 'forbidden', 'KS1 username is not the To URI');
    }
    return isS7(params) ? onS7(p, req, ctx, params) : onS1(p, req, ctx, params);
  }
  let g = p.guard.check(req, ctx.source, idc);
  if (g instanceof Promise) g = await g; // only with a shared (Redis) session store
  if (!g.ok) return p.sides.refuse(ctx, req, g.kind, g.warning, g.rec);
  if (g.rec) {
    const mech = g.rec.session.mechanism;
    if (mech !== 'app-hmac' && mech !== 'tls-psk') {
      return p.sides.refuse(ctx, req, 'transport-binding', `${mech}: a refresh needs KS1 credentials`, g.rec);
    }
    return refresh(p, req, ctx, g.rec);
  }
  // No KS1 and no session: a Digest phone, forwarded untouched but for P-KS-IDSP.
  const fwd = req.clone();
  fwd.set(P_KS_IDSP, p.idsp);
  fwd.set(P_KS_IPC, ctx.source.address);
  const res = await p.sides.forward(fwd, ctx);
  if (res.status === 403) p.sides.count(ctx, 'forbidden');
  if (res.status >= 200 && res.status < 300 && idc) {
    await bindContacts(p, req, ctx, idc, grantedExpires(res, req, p.defaultExpiresSec), false);
    p.metrics?.registrations.inc({ kind: 'digest' });
  }
  p.sides.reply(ctx, res);
}

/**
 * Does the REGISTER name a Contact that another IDc holds live, here or (on Redis) in the pool?
 * The core reaches a terminal by its Contact, so taking over someone else's would take their
 * calls. Checked before anything else, for every step (s1, s7, refresh, Digest).
 */
function contactTaken(p: RegisterDeps, req: SipRequest, idc: string | undefined): boolean | Promise<boolean> {
  const map = p.contacts;
  if (!map || !idc) return false;
  let list;
  try {
    list = req.contacts();
  } catch {
    return false; // the registrar judges a Contact that does not parse
  }
  return takenFrom(map, list, 0, idc);
}

/**
 * From Contact `from` on. Answered without a promise when this instance knows enough (every REGISTER
 * passes this check); a Contact it does not know is read from the pool's shared store, and the rest after it.
 */
function takenFrom(map: ContactMap, list: ReturnType<SipRequest['contacts']>, from: number, idc: string): boolean | Promise<boolean> {
  for (let i = from; i < list.length; i++) {
    const c = list[i]!;
    if (isStar(c)) continue;
    const owner = map.lookup(c.uri);
    if (owner === undefined && map.shared) {
      return map.load(c.uri).then((found) => (found !== undefined && !sameIdentity(found.idc, idc)) || takenFrom(map, list, i + 1, idc));
    }
    if (owner !== undefined && !sameIdentity(owner, idc)) return true;
  }
  return false;
}

/**
 * Remembers where the terminal is reached: its Contacts (as the core will use them) and this
 * flow; in a pool on Redis also there, so that another instance reaches it if this one dies
 * (a failed write is logged: the registration stands, reachable through this instance).
 */
async function bindContacts(p: RegisterDeps, req: SipRequest, ctx: ServerContext, idc: string, expiresSec: number, ks1: boolean): Promise<void> {
  const map = p.contacts;
  if (!map) return;
  const until = p.now() + expiresSec * 1000;
  const uris: Uri[] = [];
  try {
    for (const c of req.contacts()) if (!isStar(c)) uris.push(c.uri);
  } catch {
    // a Contact that does not parse binds nothing here; the registrar judges it
  }
  if (expiresSec <= 0) map.unbindAll(idc);
  else {
    for (const u of uris) map.bind(idc, u, until, ks1);
    map.seen(idc, ctx.source);
  }
  const written = map.persist(idc, uris, until, ctx.source, ks1);
  if (written) await written.catch((e: unknown) => p.logger?.warn({ idc, err: e instanceof Error ? e.message : String(e) }, 'sbc: could not share where a terminal is reached'));
}

async function onS1(p: RegisterDeps, req: SipRequest, ctx: ServerContext, params: Record<string, string>): Promise<void> {
  const s1 = decodeS1(params);
  let r = p.flow.onRegister(s1);
  if (r instanceof Promise) r = await r; // only on a shared (Redis) state: memory answers at once
  if (!r.ok) return reject(p, ctx, req, r);
  return challenge(p, req, ctx, r.s2.idc, s1.n1);
}

/** s2 to the core; its s5 becomes s6 echoing `n1`. */
async function challenge(p: RegisterDeps, req: SipRequest, ctx: ServerContext, idc: string, n1: Buffer): Promise<void> {
  const fwd = req.clone();
  removeKs1Authorization(fwd);
  fwd.remove('Security-Client');
  fwd.remove('Security-Verify');
  // the KS1 marker tells the core this is KS1, not a Digest phone's first REGISTER (core-link contract, s2)
  fwd.append('Authorization', encodeS2Authorization(idc, p.idsp));
  fwd.set(P_KS_IDSP, p.idsp);
  const res = await p.sides.forward(fwd, ctx);
  if (res.status !== 401) {
    if (res.status === 403) p.sides.count(ctx, 'forbidden');
    return p.sides.reply(ctx, res);
  }
  const s5 = decodeS5(res, idc);
  if (!s5) return p.sides.reply(ctx, res); // the core challenged with something else (Digest): pass it on
  let r = p.flow.onChallenge(s5, { n1 });
  if (r instanceof Promise) r = await r;
  if (!r.ok) return r.kind === 'busy' ? reject(p, ctx, req, r) : internal(p, ctx, req, r.kind);
  const { wwwAuthenticate, securityServer } = encodeS6(r.s6);
  res.remove('WWW-Authenticate');
  res.append('WWW-Authenticate', wwwAuthenticate);
  res.set('Security-Server', securityServer);
  p.sides.counters.challenged++;
  p.sides.reply(ctx, res);
}

async function onS7(p: RegisterDeps, req: SipRequest, ctx: ServerContext, params: Record<string, string>): Promise<void> {
  const s7 = decodeS7(params, securityClientText(req));
  let r = p.flow.onAuthenticate(s7, ctx.source.address);
  if (r instanceof Promise) r = await r;
  if (!r.ok) {
    if (r.kind === 'rechallenge') {
      p.sides.count(ctx, 'replay');
      return challenge(p, req, ctx, r.s2.idc, s7.n1);
    }
    return reject(p, ctx, req, r);
  }
  const fwd = req.clone();
  removeKs1Authorization(fwd);
  fwd.remove('Security-Client');
  fwd.remove('Security-Verify');
  fwd.append('Authorization', encodeS8Authorization(r.s8));
  fwd.set(P_KS_IDSP, p.idsp);
  fwd.set(P_KS_MECH, r.pending.mech);
  fwd.set(P_KS_IPC, ctx.source.address);
  const res = await p.sides.forward(fwd, ctx);
  if (res.status === 401) {
    // wrong authenticator or stale Rand: the core's fresh s5 becomes a new s6 echoing N1'
    p.sides.count(ctx, 'wrong-response');
    const s5 = decodeS5(res, r.s8.idc);
    if (!s5) return p.sides.reply(ctx, res);
    let c = p.flow.onChallenge(s5, { n1: s7.n1 });
    if (c instanceof Promise) c = await c;
    if (!c.ok) return c.kind === 'busy' ? reject(p, ctx, req, c) : internal(p, ctx, req, c.kind);
    const { wwwAuthenticate, securityServer } = encodeS6(c.s6);
    res.remove('WWW-Authenticate');
    res.append('WWW-Authenticate', wwwAuthenticate);
    res.set('Security-Server', securityServer);
    p.sides.counters.challenged++;
    return p.sides.reply(ctx, res);
  }
  if (res.status < 200 || res.status >= 300) {
    if (res.status === 403) p.sides.count(ctx, 'forbidden');
    return p.sides.reply(ctx, res);
  }
  const s9 = decodeS9(res, r.s8.idc, r.s8.idsp);
  if (!s9) return internal(p, ctx, req, 'no-keys');
  const a = p.flow.onAccepted(s9, r.pending);
  if (!a.ok) return internal(p, ctx, req, a.kind);
  const expiresSec = grantedExpires(res, req, p.defaultExpiresSec);
  if (expiresSec > 0) {
    const rec = p.sessions.accept(a.session, 'sip', sourceAddress(ctx), p.now() + expiresSec * 1000);
    // Shared (Redis): the terminal is told it is registered only once every instance can find it.
    const written = p.sessions.persist(rec);
    if (written) {
      try {
        await written;
      } catch (e) {
        p.sessions.forget(rec.idc);
        throw e;
      }
    }
    const conn = ctx.source.connection;
    if (ctx.source.protocol === 'tls' && ctx.source.pskIdentity === undefined && conn) p.guard.bind(rec, { tlsConnectionId: conn.id });
  } else p.sessions.remove(a.session.idc);
  await bindContacts(p, req, ctx, a.session.idc, expiresSec, true);
  p.metrics?.registrations.inc({ kind: 'ks1' });
  res.set('Authentication-Info', encodeS10(a.s10));
  const port = a.s10.mech === 'tls' ? p.tlsPorts.tls : a.s10.mech === 'tls-psk' ? p.tlsPorts.tlsPsk : undefined;
  res.set('Security-Server', chosenSecurityServer(a.s10.mech, p.offered, port !== undefined ? { port } : {}));
  p.sides.counters.registered++;
  p.logger?.info({ idc: a.session.idc, mechanism: a.session.mechanism, source: ctx.source.address }, 'sbc: registered');
  p.sides.reply(ctx, res);
}

/** A refresh (or de-registration) proved by app-hmac or tls-psk: no new challenge (core-link contract). */
async function refresh(p: RegisterDeps, req: SipRequest, ctx: ServerContext, rec: RegisteredTerminal): Promise<void> {
  const fwd = req.clone();
  fwd.remove(KS_HMAC);
  removeKs1Authorization(fwd);
  fwd.set(P_KS_IDSP, p.idsp);
  fwd.set(P_KS_AUTH, `mechanism=${rec.session.mechanism}`);
  const res = await p.sides.forward(fwd, ctx, rec);
  if (res.status >= 200 && res.status < 300) {
    const expiresSec = grantedExpires(res, req, p.defaultExpiresSec);
    p.sides.counters.refreshed++;
    // sign with the session before it may be dropped, so the terminal can verify the answer to its de-registration
    p.sides.reply(ctx, res, rec);
    if (expiresSec > 0) await p.sessions.touch(rec, p.now() + expiresSec * 1000)?.catch(() => undefined);
    else p.sessions.remove(rec.idc);
    await bindContacts(p, req, ctx, rec.idc, expiresSec, true);
    p.metrics?.registrations.inc({ kind: 'refresh' });
    return;
  }
  p.sides.reply(ctx, res, rec);
}

/** The binding lifetime the registrar granted: the longest Contact expires, else Expires, else what was asked. */
export function grantedExpires(res: SipResponse, req: SipRequest, dflt: number): number {
  let best: number | undefined;
  try {
    for (const c of res.contacts()) {
      if (isStar(c)) continue;
      const e = c.params.expires;
      if (e && /^[0-9]{1,10}$/.test(e)) best = Math.max(best ?? 0, Number(e));
    }
  } catch {
    best = undefined;
  }
  if (best !== undefined) return best;
  try {
    const e = res.expires() ?? req.expires();
    if (e !== undefined) return e;
    const star = req.contacts().some((c) => isStar(c));
    if (star) return 0;
  } catch {
    // fall through to the default
  }
  return res.headers.some((h) => h.key === 'contact') ? dflt : 0;
}

function sourceAddress(ctx: ServerContext): string {
  const a = ctx.source.address;
  return `${ctx.source.protocol}:${a.includes(':') ? `[${a}]` : a}:${ctx.source.port}`;
}

function badParam(p: RegisterDeps, ctx: ServerContext, req: SipRequest, name: string): void {
  const warning = name === 'Security-Client' || name === 'Authorization' ? `${name} missing or malformed` : `KS1 parameter ${name} missing or malformed`;
  p.sides.refuse(ctx, req, 'bad-request', warning, undefined, 400, `Bad ${name === 'Security-Client' || name === 'Authorization' ? name : `KS1 parameter ${name}`}`);
}

function reject(p: RegisterDeps, ctx: ServerContext, req: SipRequest, r: SbcReject): void {
  switch (r.kind) {
    case 'bad-request':
      return badParam(p, ctx, req, SIP_FIELD[r.field] ?? r.field);
    case 'wrong-proxy':
      return p.sides.refuse(ctx, req, 'forbidden', 'KS1 realm is not this SBC');
    case 'refused':
      return p.sides.refuse(ctx, req, 'replay', r.reason === 'ts-window' ? 'KS1 ts outside the window' : 'KS1 n1 replayed', undefined, 400, r.reason === 'ts-window' ? 'Stale KS1 ts' : 'Replayed KS1 n1');
    case 'no-common-mechanism': {
      p.sides.count(ctx, 'bad-request');
      const res = p.sides.core.refusal(req, 494, { headers: [['Security-Server', r.offered.text]] });
      return p.sides.reply(ctx, res);
    }
    case 'busy': {
      const res = p.sides.core.refusal(req, 503, { retryAfter: r.retryAfterSec ?? 5 });
      return p.sides.reply(ctx, res);
    }
    case 'rechallenge':
    case 'internal':
      return internal(p, ctx, req, r.kind);
  }
}

function internal(p: RegisterDeps, ctx: ServerContext, req: SipRequest, why: string): void {
  p.logger?.warn({ source: ctx.source.address, why }, 'sbc: core answer unusable');
  p.sides.reply(ctx, p.sides.core.refusal(req, 500));
}
