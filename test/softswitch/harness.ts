/** A softswitch on 127.0.0.1 over a real store and the real Auc, and SIP user agents to drive it. */
import { randomBytes } from 'node:crypto';
import { Auc } from '../../src/auc/auc.js';
import { AucUnavailableError, type AucService } from '../../src/contracts/auc.js';
import { startSoftswitch, type SoftswitchHandle, type SoftswitchOptions } from '../../src/softswitch/run.js';
import {
  createRequest, createSipStack, createTlsTransport, createUdpTransport, formatUri, randomToken,
  type SipResponse, type SipStack, type SipTransport,
} from '../../src/sip/index.js';
import type { Store } from '../../src/store/index.js';
import { signCoreLink, signingRequests } from '../../src/adapters/sip/core-link.js';
import type { EngineContext } from '../helpers/engines.js';

export const REALM = 'lab.example';
export const SBC = 'sbc1.lab.example';
export const SELF = 'ss1.lab.example';
/** A second loopback address: the fake SBC sends from it, and only it is trusted. */
export const SBC_ADDR = '127.0.0.2';
/** The core-link key the softswitch of `world` checks and the fake SBC signs with (docs/sip-core-link.md). */
export const LINK_KEY = randomBytes(32);

/**
 * From the fake SBC's address a stack signs its requests as the SBC does; from anywhere else it is left alone.
 * Like the SBC, it asserts who sends each in-dialog request (docs/sbc-calls.md): the From, unless the test
 * asserts someone itself.
 */
export function asSbc(stack: SipStack, host: string): SipStack {
  return host === SBC_ADDR ? signingRequests(stack, (req) => {
    if (req.to().params.tag && !req.get('P-Asserted-Identity')) req.set('P-Asserted-Identity', `<${formatUri(req.from().uri)}>`);
    signCoreLink(req, LINK_KEY);
  }) : stack;
}

/** The real Auc, with a switch that makes it hang (no answer) or refuse (unavailable), and a call log. */
export class SwitchableAuc implements AucService {
  mode: 'up' | 'hang' | 'down' = 'up';
  readonly calls: Array<{ method: string; arg: unknown }> = [];
  constructor(readonly auc: Auc) {}
  async #gate<T>(method: string, arg: unknown, call: () => Promise<T>): Promise<T> {
    this.calls.push({ method, arg });
    if (this.mode === 'hang') return new Promise<T>(() => undefined);
    if (this.mode === 'down') throw new AucUnavailableError();
    return call();
  }
  vector: AucService['vector'] = (r) => this.#gate('vector', r, () => this.auc.vector(r));
  digest: AucService['digest'] = (r) => this.#gate('digest', r, () => this.auc.digest(r));
  registered: AucService['registered'] = (r) => this.#gate('registered', r, () => this.auc.registered(r));
  deregistered: AucService['deregistered'] = (r) => this.#gate('deregistered', r, () => this.auc.deregistered(r));
  failed: AucService['failed'] = (r) => this.#gate('failed', r, () => this.auc.failed(r));
  of(method: string): unknown[] {
    return this.calls.filter((c) => c.method === method).map((c) => c.arg);
  }
}

export interface World {
  store: Store;
  auc: SwitchableAuc;
  ss: SoftswitchHandle;
  kc: Buffer;
  ksp: Buffer;
  kcs: Buffer;
  close(): Promise<void>;
}

export const ALICE = 'alice@lab.example';
export const PHONE = '1000@127.0.0.1';

export async function world(ctx: EngineContext, opts: Partial<SoftswitchOptions> = {}): Promise<World> {
  const store = await ctx.open();
  const kc = randomBytes(32);
  const ksp = randomBytes(32);
  const kcs = randomBytes(32);
  await store.terminals.create(ALICE, kc, 'alice secret');
  await store.terminals.create(PHONE, randomBytes(32), 'phone pw 1000');
  await store.terminals.create('bob@lab.example', randomBytes(32), 'bob secret');
  await store.terminals.create('carol@lab.example', randomBytes(32), 'carol secret');
  await store.proxies.create(SBC, ksp);
  await store.proxies.create(SELF, kcs);
  const auc = new SwitchableAuc(new Auc(store, { challengeTtlSeconds: 30, lockout: { threshold: 3, windowSeconds: 60, baseSeconds: 30, maxSeconds: 300 } }));
  const ss = await startSoftswitch({
    sip: { host: '127.0.0.1', udpPort: 0, tcpPort: 0, tlsPskPort: 0 },
    trustedSbcs: [SBC_ADDR + '/32'],
    coreLinkKey: LINK_KEY,
    realm: REALM,
    identity: { id: SELF, key: kcs },
    expires: { min: 60, max: 7200, default: 3600 },
    aucTimeoutMs: 300,
    auc,
    store,
    ...opts,
  });
  return {
    store, auc, ss, kc, ksp, kcs,
    async close() {
      await ss.close();
      await store.close();
    },
  };
}

const fast = { T1: 50, T2: 200, T4: 500 };

/** A user agent (or a fake SBC) with its own UDP socket. */
export class Ua {
  private constructor(readonly stack: SipStack, readonly transport: SipTransport) {}
  static async udp(host = '127.0.0.1'): Promise<Ua> {
    const t = await createUdpTransport({ host });
    return new Ua(asSbc(createSipStack({ transports: [t], onRequest: () => undefined, timers: fast }), host), t);
  }
  static async tlsPsk(identity: string, key: Buffer): Promise<Ua> {
    const t = await createTlsTransport({ client: { psk: { identity, key }, maxVersion: 'TLSv1.2' } });
    // A client-only TlsTransport leaves host/port empty, so its Via would read `TLS :0` and be dropped
    // (reported to the SIP stack's owner); a terminal would advertise its own address.
    t.host = '127.0.0.1';
    t.port = 5061;
    return new Ua(createSipStack({ transports: [t], onRequest: () => undefined, timers: fast }), t);
  }
  close(): Promise<void> {
    return this.stack.close();
  }
}

export interface RegisterOpts {
  aor?: string;
  callId?: string;
  cseq?: number;
  contacts?: string[];
  expires?: number;
  headers?: Array<[string, string]>;
  uri?: string;
}

/** A REGISTER dialog-less context: Call-ID and CSeq move on as a phone's would. */
export class Registration {
  callId = randomToken(12);
  cseq = 0;
  readonly tag = randomToken();
  constructor(readonly ua: Ua, readonly port: number, readonly aor: string, readonly protocol: 'udp' | 'tcp' | 'tls' = 'udp') {}

  request(o: RegisterOpts = {}) {
    const aor = o.aor ?? this.aor;
    const cseq = o.cseq ?? ++this.cseq;
    const h: Array<[string, string]> = [
      ['To', `<sip:${aor}>`],
      ['From', `<sip:${aor}>;tag=${this.tag}`],
      ['Call-ID', o.callId ?? this.callId],
      ['CSeq', `${cseq} REGISTER`],
      ['Max-Forwards', '70'],
    ];
    for (const c of o.contacts ?? [`<sip:${aor.split('@')[0]}@192.0.2.10:5060>`]) h.push(['Contact', c]);
    if (o.expires !== undefined) h.push(['Expires', String(o.expires)]);
    for (const x of o.headers ?? []) h.push(x);
    return createRequest('REGISTER', o.uri ?? `sip:${aor.split('@')[1]}`, h);
  }

  send(o: RegisterOpts = {}): Promise<SipResponse> {
    return this.ua.stack.send(this.request(o), { destination: { address: '127.0.0.1', port: this.port, protocol: this.protocol } });
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
