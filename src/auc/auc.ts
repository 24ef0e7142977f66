import { randomBytes } from 'node:crypto';
import { hexHashOf } from '../crypto/one-shot.js';
import { GCM_NONCE_LEN, RAND_LEN, makeVector } from '../crypto/ks1.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/index.js';
import { Lockout, type LockoutPolicy } from './lockout.js';
import { ProxyWrapKeys } from './proxy-wrap-keys.js';
import type {
  AucService,
  DeregistrationReport,
  DigestRequest,
  DigestResult,
  FailureOutcome,
  FailureReport,
  RegistrationReport,
  RejectReason,
  Requester,
  VectorRequest,
  VectorResult,
} from '../contracts/auc.js';
import { ReportRefusedError } from '../contracts/auc.js';

export interface AucOptions {
  challengeTtlSeconds: number;
  lockout: LockoutPolicy;
  /** Failures and lockouts are logged here at warn (identities and counts, never a key). */
  logger?: Pick<Logger, 'warn'>;
}

const NO_PASSWORD = Buffer.alloc(0);

/**
 * HA1 (RFC 7616 §3.4.2: H(username:realm:password)), or H.235.1's K = SHA-1(password), from the
 * password's bytes; the one copy made of them here is zeroed before returning.
 */
function digestHa1(req: DigestRequest, password: Buffer): string {
  if (req.algorithm === 'H235-SHA1') return hexHashOf('sha1', password);
  const input = Buffer.concat([Buffer.from(`${req.username}:${req.realm}:`, 'utf8'), password]);
  const ha1 = hexHashOf(req.algorithm === 'SHA-256' ? 'sha256' : 'md5', input);
  input.fill(0);
  return ha1;
}

/** Warn lines about IDcs that are not provisioned, per second at most: made-up names cost the attacker nothing. */
const UNKNOWN_LINES_PER_SECOND = 10;

/**
 * The authentication center: owns Kc and Ksp, makes vectors for a fresh
 * Kc,sp, records registrations and counts failures. Wire servers (RADIUS,
 * Diameter) expose it; nothing here knows a protocol.
 */
export class Auc implements AucService {
  readonly lockout: Lockout;
  readonly #proxyWrapKeys: ProxyWrapKeys;
  #unknownSecond = 0;
  #unknownLines = 0;
  #unknownUnlogged = 0;

  constructor(private readonly store: Store, private readonly opts: AucOptions) {
    const log = opts.logger;
    this.#proxyWrapKeys = new ProxyWrapKeys(store.proxies);
    this.lockout = new Lockout(store.failures, opts.lockout, store.now, log ? (s, lockedNow) => {
      const detail = { event: lockedNow ? 'lockout' : 'auth-failure', idc: s.idc, failures: s.count, lockouts: s.lockouts, ...(lockedNow ? { lockedUntil: new Date(s.lockedUntil).toISOString() } : {}) };
      log.warn(detail, lockedNow ? 'AuC: terminal locked after repeated authentication failures' : 'AuC: authentication failure');
    } : undefined);
  }

  /** A failure reported for an IDc that is not provisioned: logged, at most a few lines a second. */
  #unknownFailure(idc: string, idsp: string): void {
    const log = this.opts.logger;
    if (!log) return;
    const second = Math.floor(this.store.now() / 1000);
    if (second !== this.#unknownSecond) {
      this.#unknownSecond = second;
      this.#unknownLines = 0;
    }
    if (this.#unknownLines >= UNKNOWN_LINES_PER_SECOND) {
      this.#unknownUnlogged++;
      return;
    }
    this.#unknownLines++;
    const unlogged = this.#unknownUnlogged;
    this.#unknownUnlogged = 0;
    log.warn({ event: 'auth-failure', idc, idsp, unknown: true, ...(unlogged ? { notLoggedBefore: unlogged } : {}) }, 'AuC: authentication failure for an identity that is not provisioned');
  }

  /**
   * Whether this IDc may authenticate. Unknown, disabled and locked IDcs are
   * told apart here, for the softswitch's log only: it challenges them with a
   * decoy and fails them as it fails a wrong key (docs/softswitch.md,
   * "Unknown, disabled, locked"). Every IDc costs the same reads, made up or not.
   */
  async #terminalGate(idc: string): Promise<{ ok: true; key: Buffer } | { ok: false; reason: RejectReason; retryAfterSeconds?: number }> {
    // One read for key, status and failure record, whether the IDc exists or not.
    const { terminal: t, failure } = await this.store.terminals.vectorKey(idc);
    const lock = this.lockout.statusFrom(idc, failure, t !== undefined);
    if (!t) return { ok: false, reason: 'unknown-terminal' };
    if (t.status !== 'active' || lock.locked) t.key.fill(0);
    if (t.status !== 'active') return { ok: false, reason: 'disabled' };
    if (lock.locked) return { ok: false, reason: 'locked', retryAfterSeconds: lock.retryAfterSeconds };
    return { ok: true, key: t.key };
  }

  async vector(req: VectorRequest, from?: Requester): Promise<VectorResult> {
    // Both reads at once (on PostgreSQL two round trips in parallel); a key read is zeroed if the other read fails.
    const [p, g] = await Promise.allSettled([this.#proxyWrapKeys.get(req.idsp), this.#terminalGate(req.idc)]);
    if (p.status === 'rejected' || g.status === 'rejected') {
      if (g.status === 'fulfilled' && g.value.ok) g.value.key.fill(0);
      throw p.status === 'rejected' ? p.reason : (g as PromiseRejectedResult).reason;
    }
    const proxy = p.value;
    const gate = g.value;
    // An SBC that is unknown or disabled is refused for every terminal alike (its terminals are not to blame).
    if (!proxy?.kWrap) {
      if (gate.ok) gate.key.fill(0);
      return { ok: false, reason: 'unknown-proxy' };
    }
    // Every random value of a vector in one draw (each randomBytes call costs a trip into OpenSSL): the Rand, the
    // session key and the two GCM nonces (makeVector's own draws otherwise), then a throw-away key for a refused IDc.
    const draw = randomBytes(RAND_LEN + 32 + 2 * GCM_NONCE_LEN + (gate.ok ? 0 : 32));
    const rand = Buffer.from(draw.subarray(0, RAND_LEN)); // copied: the Rand leaves for the wire, the rest is zeroed here
    const sessionKey = draw.subarray(RAND_LEN, RAND_LEN + 32);
    const nonceKc = draw.subarray(RAND_LEN + 32, RAND_LEN + 32 + GCM_NONCE_LEN);
    const nonceKsp = draw.subarray(RAND_LEN + 32 + GCM_NONCE_LEN, RAND_LEN + 32 + 2 * GCM_NONCE_LEN);
    // A refused IDc costs what a real one does (no timing oracle): a vector under a throw-away key and a stored row.
    const kc = gate.ok ? gate.key : draw.subarray(RAND_LEN + 32 + 2 * GCM_NONCE_LEN);
    const v = makeVector({ kc, kWrapSp: proxy.kWrap, idc: req.idc, idsp: req.idsp, rand, sessionKey, nonceKc, nonceKsp });
    draw.fill(0);
    kc.fill(0);
    const expiresAt = this.store.now() + this.opts.challengeTtlSeconds * 1000;
    if (!gate.ok) {
      // The row is one report grant: the softswitch reports its decoy's failure (without a Rand) as it reports a wrong key.
      await this.store.challenges.grantDigest(req.idc, from ?? '', expiresAt);
      return gate;
    }
    await this.store.challenges.add({ rand: rand.toString('base64url'), idc: req.idc, idsp: req.idsp, expiresAt, requester: from ?? '' });
    return { ok: true, vector: { idc: req.idc, idsp: req.idsp, rand, authenticator: v.authenticator, ekc: v.ekc, eksp: v.eksp, expiresAt } };
  }

  async digest(req: DigestRequest, from?: Requester): Promise<DigestResult> {
    // A phone may give its whole AoR or only the user part as the Digest username.
    const userPart = req.idc.includes('@') ? req.idc.slice(0, req.idc.lastIndexOf('@')) : req.idc;
    if (req.username !== req.idc && req.username !== userPart) return { ok: false, reason: 'unknown-terminal' };
    // One read for status, password (the long-term key stays sealed) and failure record, whether the IDc exists or not.
    const { terminal: t, failure } = await this.store.terminals.digestSecret(req.idc);
    const lock = this.lockout.statusFrom(req.idc, failure, t !== undefined);
    const gate: { ok: true } | { ok: false; reason: RejectReason; retryAfterSeconds?: number } = !t
      ? { ok: false, reason: 'unknown-terminal' }
      : t.status !== 'active'
        ? { ok: false, reason: 'disabled' }
        : lock.locked
          ? { ok: false, reason: 'locked', retryAfterSeconds: lock.retryAfterSeconds }
          : { ok: true };
    // A refused IDc costs what a real one does: the same reads and the same hash.
    const password = t?.password;
    const ha1 = digestHa1(req, password ?? NO_PASSWORD);
    password?.fill(0);
    // The requester may now report one Digest outcome for this IDc (failed(), registered() without a Rand); a refused
    // IDc too, whose response the softswitch compares with a decoy and reports as a wrong password.
    if (from !== undefined) await this.store.challenges.grantDigest(req.idc, from, this.store.now() + this.opts.challengeTtlSeconds * 1000);
    if (!gate.ok) return gate;
    if (password === undefined) return { ok: false, reason: 'no-sip-password' };
    // Read in the same statement as the password: a success must be reported to clear it (docs/auc.md, "Refresh reports").
    return { ok: true, ha1, failuresPending: failure !== undefined };
  }

  /**
   * Whether a wire report is one its sender may make, and whether it is the
   * first on its challenge (only the first counts). A Rand must be a KS1
   * challenge issued to `from` for this (IDc, IDsp), else the report is
   * refused; without a Rand (Digest) it uses up a Digest grant of `from`, if
   * it holds one, and `requireGrant` refuses it when not.
   */
  async #bind(r: { idc: string; idsp: string; rand?: Buffer }, from: Requester, requireGrant: boolean): Promise<boolean> {
    if (r.rand) {
      const rand = r.rand.toString('base64url');
      const ch = this.store.challenges;
      // shared challenges (Redis): the check and the mark in one round trip
      if (ch.consumeFrom) {
        const o = await ch.consumeFrom(rand, r.idc, r.idsp, from);
        if (o === 'refused') throw new ReportRefusedError();
        return o === 'ok';
      }
      const c = await this.store.challenges.get(rand);
      if (!c || c.kind !== 'ks1' || c.requester !== from || c.idc !== r.idc || c.idsp !== r.idsp) throw new ReportRefusedError();
      return this.store.challenges.consume(rand, r.idc, r.idsp);
    }
    const granted = await this.store.challenges.consumeDigestGrant(r.idc, from);
    if (!granted && requireGrant) throw new ReportRefusedError();
    return granted;
  }

  async registered(r: RegistrationReport, from?: Requester): Promise<void> {
    // A refresh without a Rand or Digest grant is recorded but clears no failures: nothing proves it at the AuC.
    let first = true;
    if (from !== undefined) first = await this.#bind(r, from, false);
    else if (r.rand) first = await this.store.challenges.consume(r.rand.toString('base64url'), r.idc, r.idsp);
    // A Rand proves one authentication: a second report on it (a replay, or a failure reported first),
    // or one on a Rand this AuC never issued or let expire, records nothing.
    if (r.rand && !first) throw new ReportRefusedError();
    // One transaction: the record and, after a proved authentication, the failure record's deletion.
    await this.store.registrations.record(
      { idc: r.idc, idsp: r.idsp, ipc: r.ipc, protocol: r.protocol, contact: r.contact, mechanism: r.mechanism, expiresAt: r.expiresAt },
      { clearFailures: first && this.lockout.clearNeeded(r.idc) },
    );
  }

  async deregistered(r: DeregistrationReport): Promise<void> {
    await this.store.registrations.remove(r.idc, r.idsp, r.protocol, r.contact);
  }

  async failed(r: FailureReport, from?: Requester): Promise<FailureOutcome> {
    if (from !== undefined) {
      // A repeated report on one challenge (a retransmission to another AuC) answers the state without counting again.
      if (!(await this.#bind(r, from, true))) return this.lockout.status(r.idc);
    } else if (r.rand && !(await this.store.challenges.consume(r.rand.toString('base64url'), r.idc, r.idsp))) return this.lockout.status(r.idc);
    if (!(await this.store.terminals.get(r.idc))) {
      await this.lockout.peek(r.idc); // the read a real IDc's count starts with; failures of a made-up one are not stored
      this.#unknownFailure(r.idc, r.idsp);
      return { locked: false };
    }
    return this.lockout.fail(r.idc);
  }

  /** Drops expired challenges and registrations; run periodically. */
  async sweep(): Promise<{ challenges: number; registrations: number }> {
    return { challenges: await this.store.challenges.purgeExpired(), registrations: await this.store.registrations.purgeExpired() };
  }
}
