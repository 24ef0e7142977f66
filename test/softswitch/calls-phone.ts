/** A SIP phone on its own UDP socket for call tests: registers with Digest, calls, answers, keeps dialogs. */
import { createHash } from 'node:crypto';
import {
  createAckFor2xx, createCancel, createRequest, createSipStack, createUdpTransport, formatAuth, formatUri, randomToken,
  type ServerContext, type TransportProtocol, type SipRequest, type SipResponse, type SipStack, type SipTransport,
} from '../../src/sip/index.js';
import { asSbc, Registration, type Ua } from './harness.js';

export const PASSWORDS: Record<string, string> = {
  'alice@lab.example': 'alice secret',
  'bob@lab.example': 'bob secret',
  'carol@lab.example': 'carol secret',
  '1000@127.0.0.1': 'phone pw 1000',
};

/** An SDP body with CRLF lines, a latin-1 byte and no final newline: any re-encoding would show. */
export function sdp(tag: string): Buffer {
  return Buffer.concat([
    Buffer.from(`v=0\r\no=${tag} 1 1 IN IP4 127.0.0.1\r\ns=caf`, 'latin1'),
    Buffer.from([0xe9]),
    Buffer.from(`\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4${tag.length}00 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000`, 'latin1'),
  ]);
}

function h(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export function digestAnswer(res: SipResponse, username: string, password: string, uri: string): string {
  return digestCredentials(res, 'WWW-Authenticate', { username, password, method: 'REGISTER', uri });
}

/** Digest credentials (SHA-256, qop=auth) answering a 401's WWW-Authenticate or a 407's Proxy-Authenticate. */
export function digestCredentials(res: SipResponse, header: 'WWW-Authenticate' | 'Proxy-Authenticate', o: { username: string; password: string; method: string; uri: string }): string {
  const ch = res.auth(header).find((a) => a.scheme === 'Digest' && a.params.algorithm === 'SHA-256');
  if (!ch) throw new Error('no SHA-256 challenge');
  const nc = '00000001';
  const cnonce = randomToken();
  const ha1 = h(`${o.username}:${ch.params.realm}:${o.password}`);
  const ha2 = h(`${o.method}:${o.uri}`);
  const response = h(`${ha1}:${ch.params.nonce}:${nc}:${cnonce}:auth:${ha2}`);
  return formatAuth('Digest', { username: o.username, realm: ch.params.realm!, nonce: ch.params.nonce!, uri: o.uri, response, algorithm: 'SHA-256', qop: 'auth', nc, cnonce, opaque: ch.params.opaque! }, ['algorithm', 'qop', 'nc']);
}

/**
 * The same request again with a CSeq one higher and credentials for the 407
 * (RFC 3261 §22.3), built from a copy taken before the first was sent (so
 * without the Via the stack pushed on it).
 */
export function withProxyCredentials(unsent: SipRequest, challenge: SipResponse, username: string, password: string): SipRequest {
  const again = unsent.clone();
  const cseq = again.cseq();
  again.set('CSeq', `${cseq.seq + 1} ${cseq.method}`);
  again.append('Proxy-Authorization', digestCredentials(challenge, 'Proxy-Authenticate', { username, password, method: again.method, uri: again.uri }));
  return again;
}

/** Where the phone sends: the softswitch or an SBC, over UDP unless a protocol is named. */
export interface PhoneDestination {
  address: string;
  port: number;
  protocol?: TransportProtocol;
}

export type Behaviour = 'answer' | 'busy' | 'ring' | 'silent';

/** Dialog state as RFC 3261 §12 keeps it. */
export interface Dialog {
  callId: string;
  localTag: string;
  remoteTag: string;
  localUri: string;
  remoteUri: string;
  remoteTarget: string;
  /** Route set in the order this side sends it. */
  routes: string[];
  cseq: number;
}

const fast = { T1: 50, T2: 200, T4: 500 };

export class Phone {
  behaviour: Behaviour = 'answer';
  readonly received: SipRequest[] = [];
  /** Dialogs this phone answered, by Call-ID. */
  readonly answered = new Map<string, Dialog>();
  readonly contact: string;
  readonly ringing = new Map<string, ServerContext>();
  /** Call-IDs of INVITEs a CANCEL reached (the stack answers the CANCEL itself). */
  readonly cancelled = new Set<string>();
  /** Contact written in answers (default: this phone's address); a fake SBC shows the terminal's. */
  answerContact: string | undefined;

  private constructor(readonly aor: string, readonly stack: SipStack, readonly transport: SipTransport, readonly ss: PhoneDestination) {
    // a TLS client listens nowhere: its Contact names no port, and the transport it is reached over
    this.contact = transport.port ? `sip:${aor.split('@')[0]}@${transport.host}:${transport.port}` : `sip:${aor.split('@')[0]}@${transport.host || 'phone.invalid'};transport=${transport.protocol}`;
  }

  /** `transport`: another than the default UDP socket (a TLS client, say); the phone closes it. */
  static async open(aor: string, ss: PhoneDestination, host = '127.0.0.1', transport?: SipTransport): Promise<Phone> {
    const t = transport ?? (await createUdpTransport({ host }));
    let self: Phone | undefined;
    const stack = asSbc(createSipStack({ transports: [t], timers: fast, onRequest: (req, ctx) => self?.onRequest(req, ctx) }), host);
    self = new Phone(aor, stack, t, ss);
    return self;
  }

  close(): Promise<void> {
    return this.stack.close();
  }

  /** Digest registration straight at the softswitch (or, with headers, as a trusted SBC would forward it). */
  async register(o: { contact?: string; contactParams?: string; headers?: Array<[string, string]>; aor?: string } = {}): Promise<SipResponse> {
    const aor = o.aor ?? this.aor;
    const reg = new Registration(this as unknown as Ua, this.ss.port, aor);
    const contacts = [`<${o.contact ?? this.contact}>${o.contactParams ?? ''}`];
    const first = await reg.send({ contacts, headers: o.headers ?? [] });
    if (first.status !== 401) return first;
    const auth = digestAnswer(first, aor, PASSWORDS[aor]!, `sip:${aor.split('@')[1]}`);
    return reg.send({ contacts, headers: [...(o.headers ?? []), ['Authorization', auth]] });
  }

  onRequest(req: SipRequest, ctx: ServerContext): void {
    this.received.push(req);
    if (req.method === 'ACK') return;
    const rr: Array<[string, string]> = req.getAll('Record-Route').map((v) => ['Record-Route', v]);
    const contact: [string, string] = ['Contact', `<${this.answerContact ?? this.contact}>`];
    if (req.method === 'INVITE' && !req.to().params.tag) {
      const tag = randomToken();
      const dlg: Dialog = {
        callId: req.callId(), localTag: tag, remoteTag: req.from().params.tag ?? '', localUri: req.get('To')!.replace(/^.*<([^>]*)>.*$/, '$1'),
        remoteUri: req.get('From')!.replace(/^.*<([^>]*)>.*$/, '$1'), remoteTarget: contactOf(req), routes: req.list('record-route'), cseq: 100,
      };
      switch (this.behaviour) {
        case 'busy':
          ctx.respond(486, undefined, { toTag: tag });
          return;
        case 'silent':
          return;
        case 'ring':
          ctx.respond(180, undefined, { toTag: tag, headers: [...rr, contact] });
          this.ringing.set(req.callId(), ctx);
          ctx.onCancel(() => {
            this.cancelled.add(req.callId());
            ctx.respond(487, undefined, { toTag: tag });
          });
          return;
        default:
          this.answered.set(dlg.callId, dlg);
          ctx.respond(180, undefined, { toTag: tag, headers: [...rr, contact] });
          ctx.respond(200, undefined, { toTag: tag, headers: [...rr, contact, ['Content-Type', 'application/sdp']], body: sdp(this.aor) });
          return;
      }
    }
    // in-dialog or out-of-dialog non-INVITE: 200, echoing the body (re-INVITE/UPDATE answer) with our Contact
    const headers: Array<[string, string]> = [...rr, contact];
    if (req.body.length) headers.push(['Content-Type', req.get('Content-Type') ?? 'application/sdp']);
    ctx.respond(200, undefined, { toTag: req.to().params.tag ?? randomToken(), headers, ...(req.body.length ? { body: req.body } : {}) });
  }

  /**
   * INVITE to `to` through the softswitch; resolves with the final answer,
   * the provisional ones and the request as sent. A 407 is answered once
   * with this phone's password (`auth: false`: the 407 is the answer); `inv`
   * is then the authenticated INVITE (for ACK and CANCEL).
   */
  async invite(to: string, o: { headers?: Array<[string, string]>; body?: Buffer; uri?: string; auth?: boolean; password?: string } = {}) {
    const callId = randomToken(12);
    const inv = createRequest('INVITE', o.uri ?? `sip:${to}`, [
      ['From', `<sip:${this.aor}>;tag=${randomToken()}`],
      ['To', `<sip:${to}>`],
      ['Call-ID', callId],
      ['CSeq', '1 INVITE'],
      ['Max-Forwards', '70'],
      ['Contact', `<${this.contact}>`],
      ['Content-Type', 'application/sdp'],
      ...(o.headers ?? []),
    ], o.body ?? sdp(this.aor));
    const provisional: SipResponse[] = [];
    const unsent = inv.clone();
    const call = { inv, callId, provisional, challenged: false, final: undefined as unknown as Promise<SipResponse> };
    const send = (r: SipRequest) => this.stack.send(r, { destination: this.ss, onResponse: (x) => provisional.push(x) });
    const password = o.password ?? PASSWORDS[this.aor];
    call.final = send(inv).then((first) => {
      if (first.status !== 407 || o.auth === false || password === undefined) return first;
      call.challenged = true;
      call.inv = withProxyCredentials(unsent, first, this.aor, password);
      return send(call.inv);
    });
    return call;
  }

  /** An out-of-dialog request; a 407 is answered once with this phone's password. */
  async request(req: SipRequest, destination: { address: string; port: number } = this.ss): Promise<SipResponse> {
    const unsent = req.clone();
    const first = await this.stack.send(req, { destination });
    const password = PASSWORDS[this.aor];
    if (first.status !== 407 || password === undefined) return first;
    return this.stack.send(withProxyCredentials(unsent, first, this.aor, password), { destination });
  }

  cancel(inv: SipRequest): Promise<SipResponse> {
    return this.stack.send(createCancel(inv), { destination: this.ss, noVia: true });
  }

  /** ACK for the 2xx, sent along the route set; returns the caller's dialog. */
  async ack(inv: SipRequest, ok: SipResponse): Promise<Dialog> {
    const ack = createAckFor2xx(inv, ok);
    await this.stack.sendStateless(ack);
    const routes = ok.list('record-route').reverse();
    return {
      callId: inv.callId(), localTag: inv.from().params.tag!, remoteTag: ok.to().params.tag!, localUri: `sip:${this.aor}`,
      remoteUri: inv.get('To')!.replace(/^.*<([^>]*)>.*$/, '$1'), remoteTarget: contactOf(ok), routes, cseq: 1,
    };
  }

  /** A request inside a dialog (RFC 3261 §12.2.1.1), sent by its Route set. */
  inDialog(d: Dialog, method: string, o: { body?: Buffer; headers?: Array<[string, string]> } = {}): SipRequest {
    d.cseq++;
    const hs: Array<[string, string]> = [
      ['From', `<${d.localUri}>;tag=${d.localTag}`],
      ['To', `<${d.remoteUri}>;tag=${d.remoteTag}`],
      ['Call-ID', d.callId],
      ['CSeq', `${d.cseq} ${method}`],
      ['Max-Forwards', '70'],
      ['Contact', `<${this.contact}>`],
    ];
    for (const r of d.routes) hs.push(['Route', r]);
    if (o.body) hs.push(['Content-Type', 'application/sdp']);
    for (const x of o.headers ?? []) hs.push(x);
    return createRequest(method, d.remoteTarget, hs, o.body);
  }

  send(req: SipRequest): Promise<SipResponse> {
    return this.stack.send(req);
  }

  /** Waits until a request of that method (and Call-ID) has arrived. */
  async waitFor(method: string, callId?: string, ms = 3000): Promise<SipRequest> {
    const end = Date.now() + ms;
    for (;;) {
      const r = this.received.find((x) => x.method === method && (!callId || x.callId() === callId));
      if (r) return r;
      if (Date.now() > end) throw new Error(`${this.aor}: no ${method} within ${ms} ms`);
      await new Promise((res) => setTimeout(res, 10));
    }
  }
}

function contactOf(m: SipRequest | SipResponse): string {
  const c = m.contacts()[0];
  if (!c || 'star' in c) throw new Error('no Contact');
  return formatUri(c.uri);
}
