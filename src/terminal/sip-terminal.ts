/**
 * The terminal side of KS1 over SIP: registers through the SBC (TerminalFlow
 * plus docs/design.md's SIP encoding), checks s10, and then speaks under the
 * chosen mechanism — app-hmac tags on every message, a TLS-PSK connection
 * keyed by Kc,sp, or a TLS connection to the SBC's certificate.
 */
import { createHash } from 'node:crypto';
import { AppHmacSigner, AppHmacVerifier } from '../crypto/app-hmac.js';
import { TerminalFlow, type TerminalError, type TerminalSession } from '../flow/terminal.js';
import { verifySipMessage, type SipHmacVerdict } from '../adapters/sip/sbc-app-hmac.js';
import { decodeS6, decodeS10, encodeS1Authorization, encodeS7, securityServerPort } from '../adapters/sip/terminal-ks1.js';
import type { ServerContext, SipRequest, SipResponse, TimerConfig } from '../sip/index.js';
import { newCallId, newTag, SipUac, type UacTransport } from './sip-uac.js';
import { SIPS_PORT } from '../sip/proxy/ports.js';

export interface SipTerminalOptions {
  idc: string;
  kc: Buffer;
  /** The SBC's identity when known; otherwise learnt from s6. */
  idsp?: string;
  sbc: { host: string; port: number; tlsPort?: number; tlsPskPort?: number };
  /** The address to send from; default: the one that routes to the SBC (127.0.0.1 toward loopback). */
  localHost?: string;
  /** Transport of the KS1 registration. */
  transport: 'udp' | 'tcp';
  /** What this terminal supports, RFC 3329 style: `tls-psk;q=0.5, app-hmac;q=0.3`. */
  mechs: string;
  tls?: { ca?: string | Buffer; servername?: string; rejectUnauthorized?: boolean };
  expires?: number;
  /**
   * RFC 5626 instance ID (`urn:uuid:…`) sent as `+sip.instance` in our Contact.
   * Default: a name-based UUID of the IDc, so that the same terminal run again
   * (a new process, a new port) replaces its old binding at the registrar.
   */
  instance?: string;
  /** The Contact URI to register (`sip:user@host:port`); default: this terminal's own address. */
  contact?: string;
  timers?: Partial<TimerConfig>;
  /** Incoming requests on the connection the mechanism uses (an answering terminal). */
  onRequest?: (req: SipRequest, ctx: ServerContext) => void | Promise<void>;
}

/** Why a step failed. `auth` failures are the security verdicts; the rest is everything else. */
export class SipTerminalError extends Error {
  constructor(
    readonly code: string,
    readonly auth: boolean,
    readonly status?: number,
  ) {
    super(code + (status !== undefined ? ` (SIP ${status})` : ''));
  }
}

/** Security verdicts on s10 are authentication failures: the SBC (or what sits between) failed to prove itself. */
const AUTH_ERRORS: ReadonlySet<TerminalError> = new Set(['n1-mismatch', 'wrong-identity', 'downgrade', 'unwrap-failed', 'bad-mac', 'mechanism-not-listed']);

export interface Registered {
  idsp: string;
  mechanism: string;
  sessionKeyId: string;
}

/** First 8 hex digits of SHA-256(Kc,sp): names the key without revealing it. */
export function sessionKeyId(kcsp: Buffer): string {
  return createHash('sha256').update(kcsp).digest('hex').slice(0, 8);
}

/** Namespace of our name-based instance IDs (RFC 4122 §4.3; a random UUID fixed once for keyswitch). */
const INSTANCE_NS = Buffer.from('6b1f0c2a5e3d4f8a9b7c1d2e3f405162', 'hex');

/**
 * A UUID version 5 URN of the IDc: stable across runs of a terminal that
 * keeps no state, as RFC 5626 §4.1 wants of an instance ID, and the same for
 * every run with this IDc (one IDc, one device).
 */
export function instanceOf(idc: string): string {
  const h = createHash('sha1').update(INSTANCE_NS).update(idc, 'utf8').digest().subarray(0, 16);
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `urn:uuid:${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export class SipTerminal {
  readonly flow: TerminalFlow;
  /** The connection the registration ran on, and the one the mechanism uses afterwards. */
  uac: SipUac | undefined;
  secured: SipUac | undefined;
  session: TerminalSession | undefined;
  signer: AppHmacSigner | undefined;
  verifier: AppHmacVerifier | undefined;
  readonly callId = newCallId();
  readonly fromTag = newTag();
  cseq = 0;
  lastOk: SipResponse | undefined;
  #securedPort: number | undefined;

  constructor(readonly o: SipTerminalOptions) {
    this.flow = new TerminalFlow({ idc: o.idc, kc: o.kc, ...(o.idsp ? { idsp: o.idsp } : {}), mechanisms: o.mechs });
  }

  get domain(): string {
    const at = this.o.idc.lastIndexOf('@');
    return at < 0 ? this.o.idc : this.o.idc.slice(at + 1);
  }

  private async open(transport: UacTransport, port: number): Promise<SipUac> {
    return SipUac.open({
      transport,
      server: { host: this.o.sbc.host, port },
      ...(this.o.localHost ? { localHost: this.o.localHost } : {}),
      ...(this.o.tls ? { tls: this.o.tls } : {}),
      ...(transport === 'tls-psk' && this.session ? { psk: { identity: this.o.idc, key: this.session.sessionKey } } : {}),
      ...(this.o.timers ? { timers: this.o.timers } : {}),
      ...(this.o.onRequest ? { onRequest: this.o.onRequest, autoTrying: false } : {}),
    });
  }

  private register(uac: SipUac, headers: Array<[string, string]>, signed = false): Promise<SipResponse> {
    return uac.send({
      method: 'REGISTER',
      requestUri: `sip:${this.domain}`,
      aor: this.o.idc,
      callId: this.callId,
      cseq: ++this.cseq,
      fromTag: this.fromTag,
      headers: [['Contact', this.contact(uac)], ['Expires', String(this.o.expires ?? 3600)], ...headers],
      ...(signed && this.signer ? { signer: this.signer } : {}),
    });
  }

  #contact: string | undefined;

  /**
   * One Contact for the life of the terminal, whatever connection a later
   * REGISTER runs on: the SBC delivers on the mechanism's connection anyway,
   * and a second binding would make the registrar fork every call to us twice.
   */
  contact(uac: SipUac): string {
    this.#contact ??= `${this.o.contact !== undefined ? `<${this.o.contact}>` : uac.contact(this.o.idc)};+sip.instance="<${this.o.instance ?? instanceOf(this.o.idc)}>"`;
    return this.#contact;
  }

  /** s1 … s10 on `uac` (default: a new connection of the configured transport). */
  async registerKs1(uac?: SipUac): Promise<Registered> {
    if (!uac) {
      this.uac = await this.open(this.o.transport, this.o.sbc.port);
      uac = this.uac;
    }
    const s1 = this.flow.start();
    let res = await this.register(uac, [['Authorization', encodeS1Authorization(s1)]]);
    if (res.status !== 401) throw failure(res, 'challenge expected');
    const s6 = decodeS6(res, this.o.idc);
    if (!s6) throw new SipTerminalError('no KS1 challenge', false, res.status);
    const r7 = this.flow.onChallenge(s6);
    if (!r7.ok) throw new SipTerminalError(r7.error, AUTH_ERRORS.has(r7.error));
    const s7 = encodeS7(r7.value);
    res = await this.register(uac, [['Authorization', s7.authorization], ['Security-Client', s7.securityClient]]);
    if (res.status === 401) throw new SipTerminalError('rejected', true, 401);
    if (res.status !== 200) throw failure(res, 'registration failed');
    const s10 = decodeS10(res, this.o.idc, this.flow.idsp!);
    if (!s10) throw new SipTerminalError('no KS1 Authentication-Info', true, 200);
    const r10 = this.flow.onSuccess(s10);
    if (!r10.ok) throw new SipTerminalError(r10.error, AUTH_ERRORS.has(r10.error));
    this.session = r10.value;
    this.lastOk = res;
    const mech = r10.value.mechanism.toLowerCase();
    this.#securedPort = securityServerPort(res, mech);
    if (mech === 'app-hmac') {
      this.signer = new AppHmacSigner(r10.value.keys.kAppHmac, 'uplink');
      this.verifier = new AppHmacVerifier(r10.value.keys.kAppHmac, 'downlink');
    } else {
      this.signer = undefined;
      this.verifier = undefined;
    }
    return { idsp: r10.value.idsp, mechanism: mech, sessionKeyId: sessionKeyId(r10.value.sessionKey) };
  }

  /**
   * Switches to the chosen mechanism: app-hmac keeps the connection; tls-psk
   * reconnects with PSK = Kc,sp; tls connects to the SBC's certificate and
   * registers again over it (the connection is bound to IDc by that KS1 run).
   */
  async applyMechanism(): Promise<Registered> {
    const s = this.session;
    if (!s) throw new SipTerminalError('not registered', false);
    const mech = s.mechanism.toLowerCase();
    if (mech === 'app-hmac') {
      this.secured = this.uac;
      return { idsp: s.idsp, mechanism: mech, sessionKeyId: sessionKeyId(s.sessionKey) };
    }
    const port = mech === 'tls-psk' ? this.o.sbc.tlsPskPort ?? this.#securedPort ?? SIPS_PORT : this.o.sbc.tlsPort ?? this.#securedPort ?? SIPS_PORT;
    try {
      this.secured = await this.open(mech === 'tls-psk' ? 'tls-psk' : 'tls', port);
    } catch (e) {
      throw new SipTerminalError(`${mech} connection failed: ${(e as Error).message}`, mech === 'tls-psk');
    }
    if (mech === 'tls') return this.registerKs1(this.secured);
    return { idsp: s.idsp, mechanism: mech, sessionKeyId: sessionKeyId(s.sessionKey) };
  }

  /** A REGISTER refresh under the mechanism (app-hmac, tls-psk: no challenge; tls: a KS1 run on the TLS connection). */
  async refresh(expires?: number): Promise<SipResponse> {
    const uac = this.mustBeSecured();
    const mech = this.session!.mechanism.toLowerCase();
    if (mech === 'tls') {
      await this.registerKs1(uac);
      return this.lastOk!;
    }
    const res = await this.register(uac, expires !== undefined ? [['Expires', String(expires)]] : [], true);
    this.checkAnswer(res);
    return res;
  }

  /** OPTIONS to the SBC itself (no user part), which answers it. */
  async options(): Promise<SipResponse> {
    const uac = this.mustBeSecured();
    const res = await uac.send({
      method: 'OPTIONS',
      requestUri: `sip:${this.o.sbc.host.includes(':') ? `[${this.o.sbc.host}]` : this.o.sbc.host}`,
      aor: this.o.idc,
      callId: newCallId(),
      cseq: 1,
      fromTag: newTag(),
      ...(this.signer ? { signer: this.signer } : {}),
    });
    this.checkAnswer(res);
    return res;
  }

  private mustBeSecured(): SipUac {
    if (!this.secured) throw new SipTerminalError('mechanism not applied', false);
    return this.secured;
  }

  /** The connection the mechanism uses (calls go there). */
  get securedUac(): SipUac {
    return this.mustBeSecured();
  }

  /** Under app-hmac: whether a message from the SBC carries a valid tag (moves the window). Always true otherwise. */
  verifyFromSbc(msg: SipRequest | SipResponse): SipHmacVerdict {
    return this.verifier ? verifySipMessage(msg, this.verifier) : 'ok';
  }

  /** 2xx, and under app-hmac a valid tag from the SBC. */
  private checkAnswer(res: SipResponse): void {
    if (this.verifier) {
      const v: SipHmacVerdict = verifySipMessage(res, this.verifier);
      if (v !== 'ok') throw new SipTerminalError(`answer's KS-HMAC ${v}`, true, res.status);
    }
    if (res.status < 200 || res.status >= 300) throw failure(res, 'refused');
    this.lastOk = res;
  }

  async close(): Promise<void> {
    const all = [this.uac, this.secured].filter((u, i, a): u is SipUac => u !== undefined && a.indexOf(u) === i);
    await Promise.all(all.map((u) => u.close()));
  }
}

function failure(res: SipResponse, what: string): SipTerminalError {
  const auth = res.status === 401 || res.status === 403;
  const local = res.localReason ? ` (${res.localReason})` : '';
  return new SipTerminalError(`${what}: ${res.status} ${res.reason}${local}`, auth, res.status);
}
