/**
 * A minimal SIP user agent client for the terminal: one transport towards the
 * SBC (UDP, TCP, TLS to its certificate, or TLS-PSK), requests built with our
 * own Via so that an app-hmac tag can cover them exactly as sent.
 */
import type { AppHmacSigner } from '../crypto/app-hmac.js';
import { signSipMessage } from '../adapters/sip/sbc-app-hmac.js';
import {
  createRequest, createSipStack, createTcpTransport, createTlsTransport, createUdpTransport, newBranch, randomToken,
  type SipRequest, type SipResponse, type SipStack, type SipStackOptions, type SipTransport, type TimerConfig,
} from '../sip/index.js';
import { isLoopbackHost, localAddressToward } from '../sip/transport/local-address.js';

export type UacTransport = 'udp' | 'tcp' | 'tls' | 'tls-psk';

export interface UacOptions {
  transport: UacTransport;
  server: { host: string; port: number };
  /** tls: trust anchors and the name to check (default: no name check beyond the CA when absent). */
  tls?: { ca?: string | Buffer; servername?: string; rejectUnauthorized?: boolean };
  /** tls-psk: identity IDc and key Kc,sp. */
  psk?: { identity: string; key: Buffer };
  localHost?: string;
  timers?: Partial<TimerConfig>;
  /** Requests that arrive (incoming calls); default: 501. The handler answers them itself. */
  onRequest?: SipStackOptions['onRequest'];
  /** Answer INVITEs with 100 Trying at once (default true; an app-hmac callee sends signed provisionals itself). */
  autoTrying?: boolean;
}

export interface UacRequest {
  method: string;
  requestUri: string;
  /** IDc: `user@host`. */
  aor: string;
  callId: string;
  cseq: number;
  fromTag: string;
  headers?: Array<[string, string]>;
  /** To header value; default `<sip:aor>` (REGISTER). */
  to?: string;
  body?: Buffer;
  /** app-hmac: sign the request as sent. */
  signer?: AppHmacSigner;
  /** 1xx (and 2xx after the first). */
  onResponse?: (res: SipResponse) => void;
}

export class SipUac {
  private constructor(
    readonly stack: SipStack,
    readonly transport: SipTransport,
    readonly o: UacOptions,
  ) {}

  static async open(o: UacOptions): Promise<SipUac> {
    // an SBC on another host must be able to answer: bind the address that routes to it, not loopback
    const host = o.localHost ?? (isLoopbackHost(o.server.host) ? '127.0.0.1' : ((await localAddressToward(o.server.host, o.server.port)) ?? '127.0.0.1'));
    let t: SipTransport;
    if (o.transport === 'udp') t = await createUdpTransport({ host, port: 0 });
    else if (o.transport === 'tcp') t = await createTcpTransport({ host, port: 0 });
    else if (o.transport === 'tls') {
      const c = o.tls ?? {};
      t = await createTlsTransport({
        host,
        client: {
          ...(c.ca ? { ca: c.ca } : {}),
          ...(c.servername ? { servername: c.servername } : {}),
          rejectUnauthorized: c.rejectUnauthorized ?? true,
        },
      });
    } else {
      if (!o.psk) throw new Error('tls-psk needs an identity and key');
      t = await createTlsTransport({ host, client: { psk: o.psk, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } });
    }
    const stack = createSipStack({
      transports: [t],
      onRequest: o.onRequest ?? ((_req, ctx) => void ctx.respond(501)),
      ...(o.autoTrying === false ? { autoTrying: false } : {}),
      ...(o.timers ? { timers: o.timers } : {}),
    });
    return new SipUac(stack, t, o);
  }

  /** Via transport token and sent-by for what we send. */
  private sentBy(): { proto: string; hostport: string } {
    const proto = this.o.transport === 'tls-psk' ? 'TLS' : this.o.transport.toUpperCase();
    const h = this.transport.host || 'terminal.invalid';
    const host = h.includes(':') ? `[${h}]` : h;
    return { proto, hostport: this.transport.port ? `${host}:${this.transport.port}` : host };
  }

  /** The Contact this terminal registers. */
  contact(aor: string): string {
    const user = aor.includes('@') ? aor.slice(0, aor.lastIndexOf('@')) : aor;
    const { hostport } = this.sentBy();
    const tp = this.o.transport === 'udp' ? '' : `;transport=${this.o.transport === 'tcp' ? 'tcp' : 'tls'}`;
    return `<sip:${user}@${hostport}${tp}>`;
  }

  /** Our Via for a request we send (so an app-hmac tag can cover it). */
  via(): string {
    const { proto, hostport } = this.sentBy();
    return `SIP/2.0/${proto} ${hostport};branch=${newBranch()};rport`;
  }

  /** The request as it will be sent, signed when asked. */
  build(r: UacRequest): SipRequest {
    const ownMf = r.headers?.some(([k]) => k.toLowerCase() === 'max-forwards');
    const req = createRequest(r.method, r.requestUri, [
      ['Via', this.via()],
      ...(ownMf ? [] : [['Max-Forwards', '70'] as [string, string]]),
      ['From', `<sip:${r.aor}>;tag=${r.fromTag}`],
      ['To', r.to ?? `<sip:${r.aor}>`],
      ['Call-ID', r.callId],
      ['CSeq', `${r.cseq} ${r.method}`],
      ...(r.headers ?? []),
    ], r.body);
    if (r.signer) signSipMessage(req, r.signer);
    return req;
  }

  /** Sends a request and resolves with the final response (408/503 made up on timeout or transport failure). */
  send(r: UacRequest): Promise<SipResponse> {
    return this.sendBuilt(this.build(r), r.onResponse);
  }

  /** Sends a request built (and signed) by the caller, to the SBC whatever its Route says: the SBC is the outbound proxy. */
  sendBuilt(req: SipRequest, onResponse?: (res: SipResponse) => void): Promise<SipResponse> {
    return this.stack.send(req, { noVia: true, ...this.#dest(), ...(onResponse ? { onResponse } : {}) });
  }

  /** An ACK for a 2xx: no transaction. */
  sendAck(req: SipRequest): Promise<void> {
    return this.stack.sendStateless(req, { noVia: true, ...this.#dest() });
  }

  #dest(): { destination: { address: string; port: number; protocol: SipTransport['protocol'] }; transport: SipTransport } {
    return { destination: { address: this.o.server.host, port: this.o.server.port, protocol: this.transport.protocol }, transport: this.transport };
  }

  close(): Promise<void> {
    return this.stack.close();
  }
}

export const newCallId = (): string => randomToken(12);
export const newTag = (): string => randomToken(8);
