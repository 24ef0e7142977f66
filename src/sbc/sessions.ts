import { AppHmacSigner, AppHmacVerifier, FIRST_SEQ } from '../crypto/app-hmac.js';
import { SessionKeys } from '../crypto/ks1.js';
import type { SbcSession } from '../flow/sbc.js';
import { DOWNLINK_BLOCK, type RedisSbcSessions, type UplinkClaim } from '../store/redis/sbc-sessions.js';
import { ownString } from '../sip/own-string.js';

/**
 * A terminal registered through this SBC, whatever protocol it used: the
 * session key (derived once), the chosen mechanism and, for app-hmac, the
 * per-direction sequence state. One record per IDc.
 */
export interface RegisteredTerminal {
  idc: string;
  protocol: 'sip' | 'mgcp' | 'h248' | 'h323';
  /** Where the terminal was seen (transport address), as the protocol adapter writes it. */
  address: string;
  session: SbcSession;
  /** app-hmac: verifies terminal → SBC; signs SBC → terminal. */
  uplink?: AppHmacVerifier;
  downlink?: AppHmacSigner;
  /** Shared (Redis): the block of downlink sequence numbers `downlink` signs from (docs/scale-out.md). */
  downlinkBlock?: number;
  expiresAt: number; // Unix ms
}

const ABSENT_MS = 1000;
const ABSENT_MAX = 10_000;

/**
 * The registered terminals. In the process by default; with `share()` (a
 * pool on Redis, docs/scale-out.md) every registration is also written to
 * Redis, sealed, the Map is this instance's cache of it, a miss is looked up
 * there (`load`), and each app-hmac uplink message is claimed there
 * (`claim`) so that no two instances accept the same one.
 */
export class SessionTable {
  readonly #byIdc = new Map<string, RegisteredTerminal>();
  #shared: RedisSbcSessions | undefined;
  #onSharedError: (e: unknown, what: string) => void = () => undefined;
  readonly #loading = new Map<string, Promise<RegisteredTerminal | undefined>>();
  /**
   * IDcs just looked up and not found, for a second: a flood of requests
   * naming unknown IDcs costs Redis one lookup per IDc per second, not one per
   * message. A registration of one of them, announced on the channel, clears it.
   */
  readonly #absent = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Shares the table through Redis; `onError` hears of writes that could not be made in the background. */
  share(shared: RedisSbcSessions, onError?: (e: unknown, what: string) => void): void {
    this.#shared = shared;
    if (onError) this.#onSharedError = onError;
    // Another instance re-registered or dropped this terminal: our copy is stale. A tls-psk
    // terminal is read at once, since its next TLS handshake may come here and cannot wait.
    shared.watch((idc, mechanism) => {
      if (idc === undefined) {
        this.#absent.clear();
        return this.#byIdc.clear();
      }
      this.#byIdc.delete(idc);
      this.#absent.delete(idc);
      if (mechanism === 'tls-psk') this.load(idc)?.catch((e: unknown) => this.#onSharedError(e, 'read a tls-psk registration'));
    });
  }

  get shared(): boolean {
    return this.#shared !== undefined;
  }

  /** Writes an accepted registration to the shared store (undefined: nothing to wait for). */
  persist(rec: RegisteredTerminal): Promise<void> | undefined {
    const sh = this.#shared;
    if (!sh) return undefined;
    const s = rec.session;
    return sh.put({ idc: rec.idc, idsp: s.idsp, protocol: rec.protocol, address: rec.address, mechanism: s.mechanism, kcsp: s.keys.sessionKey, registeredAt: s.registeredAt, expiresAt: rec.expiresAt });
  }

  /** A refresh proved by the terminal's mechanism: the new expiry, here and in the shared store. */
  touch(rec: RegisteredTerminal, expiresAt: number): Promise<void> | undefined {
    rec.expiresAt = expiresAt;
    const sh = this.#shared;
    if (!sh) return undefined;
    return sh.touch(rec.idc, rec.session.registeredAt, expiresAt).then(() => undefined);
  }

  /**
   * A registration made through another instance: undefined when there is
   * nothing to look up (no shared store, or cached here), else its lookup
   * (one Redis round trip; concurrent lookups of one IDc share it).
   */
  load(idc: string): Promise<RegisteredTerminal | undefined> | undefined {
    const sh = this.#shared;
    if (!sh || this.get(idc)) return undefined;
    const inFlight = this.#loading.get(idc);
    if (inFlight) return inFlight;
    const now = this.now();
    const absentUntil = this.#absent.get(idc);
    if (absentUntil !== undefined) {
      if (absentUntil > now) return Promise.resolve(undefined);
      this.#absent.delete(idc);
    }
    const p = sh.get(idc, now).then((st) => {
      if (!st && !this.get(idc)) {
        if (this.#absent.size >= ABSENT_MAX) this.#absent.clear();
        this.#absent.set(idc, this.now() + ABSENT_MS);
      }
      if (!st || this.get(idc)) return this.get(idc);
      const session: SbcSession = { idc: st.idc, idsp: st.idsp, mechanism: st.mechanism, keys: new SessionKeys(st.kcsp), registeredAt: st.registeredAt };
      st.kcsp.fill(0);
      const rec = this.#make(session, st.protocol as RegisteredTerminal['protocol'], st.address, st.expiresAt, st.downlinkBlock);
      this.#byIdc.set(rec.idc, rec);
      return rec;
    }).finally(() => this.#loading.delete(idc));
    this.#loading.set(idc, p);
    return p;
  }

  /** app-hmac with a shared store: claims an uplink sequence number the tag verified (undefined: none to claim). */
  claim(rec: RegisteredTerminal, seq: number): Promise<UplinkClaim> | undefined {
    const sh = this.#shared;
    if (!sh || !rec.uplink) return undefined;
    return sh.claimUplink(rec.idc, rec.session.registeredAt, seq, rec.uplink.window, rec.downlinkBlock).then(({ claim, block }) => {
      if (claim === 'gone' && this.#byIdc.get(rec.idc) === rec) this.#byIdc.delete(rec.idc);
      if (claim === 'ok') this.#useBlock(rec, block);
      return claim;
    });
  }

  /**
   * app-hmac with a shared store, before signing a request to the terminal:
   * if another instance signed for it since this one did, this one moves to a
   * new block, so the terminal's window only sees numbers rise (undefined: nothing to do).
   */
  freshDownlink(rec: RegisteredTerminal): Promise<void> | undefined {
    const sh = this.#shared;
    if (!sh || !rec.downlink) return undefined;
    return sh.downlinkBlock(rec.idc, rec.session.registeredAt, rec.downlinkBlock ?? 0).then((block) => {
      if (block > 0) this.#useBlock(rec, block);
    });
  }

  #useBlock(rec: RegisteredTerminal, block: number): void {
    if (block === rec.downlinkBlock || !(block >= 1)) return;
    rec.downlinkBlock = block;
    rec.downlink = new AppHmacSigner(rec.session.keys.kAppHmac, 'downlink', (block - 1) * DOWNLINK_BLOCK + 1);
  }

  /** Removes a registration from the shared store even if this instance holds no copy (an operator's drop). */
  dropShared(idc: string, before: number): Promise<boolean> | undefined {
    return this.#shared?.remove(idc, { before });
  }

  #make(session: SbcSession, protocol: RegisteredTerminal['protocol'], address: string, expiresAt: number, downlinkBlock = 1): RegisteredTerminal {
    const idc = ownString(session.idc);
    session.idc = idc;
    session.idsp = ownString(session.idsp);
    const rec: RegisteredTerminal = { idc, protocol, address: ownString(address), session, expiresAt };
    if (session.mechanism === 'app-hmac') {
      rec.uplink = new AppHmacVerifier(session.keys.kAppHmac, 'uplink');
      rec.downlink = new AppHmacSigner(session.keys.kAppHmac, 'downlink', (downlinkBlock - 1) * DOWNLINK_BLOCK + FIRST_SEQ);
      if (this.#shared) rec.downlinkBlock = downlinkBlock;
    }
    return rec;
  }

  /** Stores a new registration; the app-hmac state starts fresh with each new session key. */
  accept(session: SbcSession, protocol: RegisteredTerminal['protocol'], address: string, expiresAt: number): RegisteredTerminal {
    const rec = this.#make(session, protocol, address, expiresAt);
    this.#byIdc.set(rec.idc, rec);
    // SIP waits for the write (sip-register.ts); the gateway relays' registrations are shared as they complete.
    if (protocol !== 'sip') this.persist(rec)?.catch((e: unknown) => this.#onSharedError(e, 'write a registration'));
    return rec;
  }

  /** The live registration of an IDc, if any. */
  get(idc: string): RegisteredTerminal | undefined {
    const rec = this.#byIdc.get(idc);
    if (rec && rec.expiresAt <= this.now()) {
      this.#byIdc.delete(idc);
      return undefined;
    }
    return rec;
  }

  /** Removes a registration here and, with a shared store, everywhere (in the background). */
  remove(idc: string): boolean {
    const rec = this.#byIdc.get(idc);
    const had = this.#byIdc.delete(idc);
    if (this.#shared) {
      const o = rec ? { registeredAt: rec.session.registeredAt } : {};
      this.#shared.remove(idc, o).catch((e: unknown) => this.#onSharedError(e, 'remove a registration'));
    }
    return had;
  }

  /** Drops this instance's copy only (the shared record stays). */
  forget(idc: string): void {
    this.#byIdc.delete(idc);
  }

  get size(): number {
    return this.#byIdc.size;
  }

  /** Drops expired registrations; returns them so adapters can report de-registration. */
  sweep(): RegisteredTerminal[] {
    const t = this.now();
    const gone: RegisteredTerminal[] = [];
    for (const [idc, rec] of this.#byIdc) {
      if (rec.expiresAt <= t) {
        this.#byIdc.delete(idc);
        gone.push(rec);
      }
    }
    return gone;
  }
}
