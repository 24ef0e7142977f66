/**
 * An MGCP media gateway registering through the SBC: RSIP (s1), answers the
 * call agent's RQNT challenge (s6) with 200 and an NTFY (s7), and takes the
 * RQNT reporting success (s10). After it, every command it sends carries
 * X-KS-SEQ/X-KS-HMAC and every command it takes must carry them.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { protectCommand, verifyCommand } from '../adapters/mgcp/app-hmac.js';
import { ksStep, readS10, readS6, s1Params, s7Params } from '../adapters/mgcp/params.js';
import { AppHmacSigner, AppHmacVerifier } from '../crypto/app-hmac.js';
import { toB64u } from '../crypto/ks1.js';
import type { Clock, RandomBytes } from '../flow/messages.js';
import { TerminalFlow } from '../flow/terminal.js';
import type { Logger } from '../log/logger.js';
import { parseEndpointName } from '../mgcp/endpoint-name.js';
import { GATEWAY_PORT, MgcpTransport, type MgcpPeer, type MgcpReply, type SendResult, type TransportStats, type TransportTimers } from '../mgcp/transport.js';
import { getParam, param, type MgcpCommand, type MgcpParam } from '../mgcp/types.js';

export interface MgcpGatewayOptions {
  idc: string;
  kc: Buffer;
  /** The SBC's identity if known; otherwise learnt from the challenge. */
  idsp?: string;
  sbc: { host: string; port: number };
  /** RFC 3329 list with priorities; default `app-hmac;q=0.5`. */
  mechs?: string;
  /** Endpoint name used in every command; default `*@<IDc with @ as .>`. */
  endpoint?: string;
  listen?: { host?: string; port?: number };
  /** Whole registration, s1 to s10. */
  timeoutMs?: number;
  /** Challenges answered in one registration before giving up. */
  maxChallenges?: number;
  transport?: Partial<TransportTimers>;
  clock?: Clock;
  random?: RandomBytes;
  logger?: Logger;
  /** Verified commands from the call agent after registration; default 200. */
  onCommand?: (cmd: MgcpCommand) => MgcpReply | Promise<MgcpReply>;
  onPacket?: (dir: 'in' | 'out', data: Buffer, peer: MgcpPeer) => void;
}

export type MgcpRegisterResult =
  | { ok: true; idsp: string; mechanism: string; sessionKeyId: string; ms: number }
  | { ok: false; kind: 'auth-failed' | 'error'; message: string };

export type MgcpProtect = 'auto' | 'none' | 'bad-tag';

/** First 8 hex digits of SHA-256(Kc,sp): names the session key without revealing it. */
export const sessionKeyId = (kcsp: Buffer): string => createHash('sha256').update(kcsp).digest('hex').slice(0, 8);

function defaultEndpoint(idc: string): string {
  const name = `*@${idc.replace('@', '.')}`;
  if (!parseEndpointName(name)) throw new RangeError('IDc does not make an endpoint name; set `endpoint`');
  return name;
}

interface Attempt {
  started: number;
  challenges: number;
  timer: NodeJS.Timeout;
  resolve: (r: MgcpRegisterResult) => void;
}

export class MgcpGateway {
  readonly endpoint: string;
  readonly #o: MgcpGatewayOptions;
  readonly #flow: TerminalFlow;
  readonly #sbc: MgcpPeer;
  readonly #clock: Clock;
  #transport!: MgcpTransport;
  #attempt: Attempt | undefined;
  #signer: AppHmacSigner | undefined;
  #verifier: AppHmacVerifier | undefined;
  #mechanism: string | undefined;
  #rejected = 0;

  private constructor(o: MgcpGatewayOptions) {
    this.#o = o;
    this.endpoint = o.endpoint ?? defaultEndpoint(o.idc);
    if (!parseEndpointName(this.endpoint)) throw new RangeError('bad endpoint name');
    this.#clock = o.clock ?? Date.now;
    this.#flow = new TerminalFlow({
      idc: o.idc,
      kc: o.kc,
      mechanisms: o.mechs ?? 'app-hmac;q=0.5',
      clock: this.#clock,
      ...(o.random ? { random: o.random } : {}),
      ...(o.idsp !== undefined ? { idsp: o.idsp } : {}),
    });
    this.#sbc = { host: o.sbc.host, port: o.sbc.port };
  }

  static async open(o: MgcpGatewayOptions): Promise<MgcpGateway> {
    const gw = new MgcpGateway(o);
    gw.#transport = await MgcpTransport.open({
      host: o.listen?.host ?? '0.0.0.0',
      port: o.listen?.port ?? GATEWAY_PORT,
      onCommand: (cmd, from) => gw.#onCommand(cmd, from),
      ...(o.logger ? { logger: o.logger } : {}),
      ...(o.onPacket ? { onPacket: o.onPacket } : {}),
      ...o.transport,
    });
    return gw;
  }

  get port(): number {
    return this.#transport.port;
  }
  get registered(): boolean {
    return this.#mechanism !== undefined;
  }
  get mechanism(): string | undefined {
    return this.#mechanism;
  }

  stats(): { transport: TransportStats; rejected: number } {
    return { transport: this.#transport.stats(), rejected: this.#rejected };
  }

  /** Runs s1..s10 once; resolves with the outcome (never rejects). */
  register(): Promise<MgcpRegisterResult> {
    if (this.#attempt) return Promise.resolve({ ok: false, kind: 'error', message: 'registration already in progress' });
    return new Promise((resolve) => {
      const attempt: Attempt = {
        started: performance.now(),
        challenges: 0,
        resolve,
        timer: setTimeout(() => this.#end({ ok: false, kind: 'error', message: 'registration timed out' }), this.#o.timeoutMs ?? 10_000),
      };
      this.#attempt = attempt;
      const s1 = this.#flow.start();
      void this.#transport
        .send(this.#sbc, { verb: 'RSIP', endpoint: this.endpoint, version: '1.0', params: [param('RM', 'restart'), ...s1Params(s1)] })
        .then((r) => {
          if (this.#attempt !== attempt) return;
          if (!r.ok) this.#end({ ok: false, kind: 'error', message: `RSIP: ${r.error}` });
          else if (r.response.code !== 200) this.#end(this.#refusal('RSIP', r.response.code, r.response.text));
        });
    });
  }

  /**
   * Sends a command from this gateway's endpoint. Once registered with
   * app-hmac it is protected (`protect: 'none'` or `'bad-tag'` exist to test
   * the SBC).
   */
  command(verb: string, params: MgcpParam[] = [], opts: { protect?: MgcpProtect } = {}): Promise<SendResult> {
    let cmd: MgcpCommand = { kind: 'command', verb: verb.toUpperCase(), tid: this.#transport.nextTid(), endpoint: this.endpoint, version: '1.0', params };
    const protect = opts.protect ?? 'auto';
    if (protect !== 'none' && this.#signer) {
      cmd = protectCommand(cmd, this.#signer);
      if (protect === 'bad-tag') {
        const wrong = Buffer.alloc(16, 0x5a);
        cmd = { ...cmd, params: cmd.params.map((p) => (p.key === 'x-ks-hmac' ? param(p.name, toB64u(wrong)) : p)) };
      }
    }
    return this.#transport.send(this.#sbc, cmd);
  }

  close(): Promise<void> {
    if (this.#attempt) this.#end({ ok: false, kind: 'error', message: 'closed' });
    return this.#transport.close();
  }

  #end(r: MgcpRegisterResult): void {
    const a = this.#attempt;
    if (!a) return;
    clearTimeout(a.timer);
    this.#attempt = undefined;
    a.resolve(r);
  }

  #refusal(what: string, code: number, text?: string): MgcpRegisterResult {
    const message = `${what} refused: ${code}${text ? ` ${text}` : ''}`;
    return { ok: false, kind: code === 500 ? 'auth-failed' : 'error', message };
  }

  #onCommand(cmd: MgcpCommand, from: MgcpPeer): MgcpReply | null | Promise<MgcpReply> {
    // Only the SBC commands this gateway (by port, and by address when it was configured as one).
    if (from.port !== this.#sbc.port || (isIP(this.#sbc.host) !== 0 && from.host !== this.#sbc.host)) return null;
    const step = ksStep(cmd.verb, cmd.params);
    if (step === 'challenge') return this.#onChallenge(cmd);
    if (step === 'success') return this.#onSuccess(cmd);
    if (!this.#mechanism) return this.#reject('not registered');
    if (this.#verifier) {
      const verdict = verifyCommand(cmd, this.#verifier);
      if (verdict !== 'ok') return this.#reject(`app-hmac ${verdict}`);
    }
    return this.#o.onCommand ? this.#o.onCommand(cmd) : { code: 200 };
  }

  #reject(why: string): MgcpReply {
    this.#rejected++;
    return { code: 510, text: `Protocol error: ${why}` };
  }

  #onChallenge(cmd: MgcpCommand): MgcpReply {
    const a = this.#attempt;
    if (!a) return this.#reject('no registration in progress');
    const d = readS6(cmd.params);
    if (!d.ok) return this.#reject(`bad ${d.field}`);
    if (d.value.result === 'failed') {
      return { code: 200, after: () => this.#end({ ok: false, kind: 'auth-failed', message: 'the call agent refused the response (wrong key?)' }) };
    }
    if (++a.challenges > (this.#o.maxChallenges ?? 3)) {
      return { code: 200, after: () => this.#end({ ok: false, kind: 'auth-failed', message: 'challenged too many times' }) };
    }
    const r = this.#flow.onChallenge(d.value);
    if (!r.ok) return this.#reject(r.error);
    const s7 = r.value;
    const requestId = getParam(cmd, 'X') ?? '0';
    const after = (): void => {
      void this.#transport
        .send(this.#sbc, { verb: 'NTFY', endpoint: this.endpoint, version: '1.0', params: [param('X', requestId), param('O', 'ks/auth'), ...s7Params(s7)] })
        .then((res) => {
          if (this.#attempt !== a) return;
          if (!res.ok) this.#end({ ok: false, kind: 'error', message: `NTFY: ${res.error}` });
          else if (res.response.code !== 200) this.#end(this.#refusal('NTFY', res.response.code, res.response.text));
        });
    };
    return { code: 200, after };
  }

  #onSuccess(cmd: MgcpCommand): MgcpReply {
    const a = this.#attempt;
    if (!a) return this.#reject('no registration in progress');
    const d = readS10(cmd.params);
    if (!d.ok) return this.#reject(`bad ${d.field}`);
    const r = this.#flow.onSuccess(d.value);
    if (!r.ok) {
      // Stage or N1 mismatches may be stale copies; a bad MAC or a downgrade ends the attempt.
      if (r.error === 'unexpected' || r.error === 'n1-mismatch') return this.#reject(r.error);
      const reply = this.#reject(r.error);
      reply.after = () => this.#end({ ok: false, kind: 'auth-failed', message: `s10 refused: ${r.error}` });
      return reply;
    }
    const s = r.value;
    this.#mechanism = s.mechanism;
    if (s.mechanism.toLowerCase() === 'app-hmac') {
      this.#signer = new AppHmacSigner(s.keys.kAppHmac, 'uplink');
      this.#verifier = new AppHmacVerifier(s.keys.kAppHmac, 'downlink');
    } else {
      this.#signer = undefined;
      this.#verifier = undefined;
    }
    const result: MgcpRegisterResult = { ok: true, idsp: s.idsp, mechanism: s.mechanism, sessionKeyId: sessionKeyId(s.sessionKey), ms: performance.now() - a.started };
    return { code: 200, after: () => this.#end(result) };
  }
}

/** Opens a gateway and registers it; on success the gateway stays open for protected commands (close it when done). */
export async function registerMgcpGateway(o: MgcpGatewayOptions): Promise<(MgcpRegisterResult & { ok: true; gateway: MgcpGateway }) | (MgcpRegisterResult & { ok: false })> {
  const gateway = await MgcpGateway.open(o);
  const r = await gateway.register();
  if (!r.ok) {
    await gateway.close();
    return r;
  }
  return { ...r, gateway };
}
