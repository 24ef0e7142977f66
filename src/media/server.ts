/**
 * The media server's SIP user agent (docs/voicemail.md): it answers calls
 * the softswitch diverts here (deposit) and calls to a message's address
 * (retrieval). It is a UA, not a proxy: every dialog ends here.
 *
 * Who calls is the softswitch's word: a new INVITE is taken only with a
 * valid core-link signature (P-KS-Link under `coreLink.key`,
 * docs/sip-core-link.md), which binds the softswitch's `Diversion` (whose
 * mailbox) and `P-Asserted-Identity` (the authenticated caller, after its
 * 407 Digest or an SBC's KS1 assertion) to that request. Anyone else gets 403.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log/logger.js';
import { identityOfUri } from '../sip/uri-compare.js';
import {
  createRequest, createResponse, formatHost, parseNameAddr, randomToken,
  type MessageSource, type ServerContext, type SipRequest, type SipStack,
} from '../sip/index.js';
import { CoreLinkVerifier, signCoreLink } from '../adapters/sip/core-link.js';
import {
  DRM_TYPE,
} from '../contracts/licence.js';
import { drmOffers, formatDrm, mediaAddress, NO_DRM, parseSdp, rtpMap, serializeSdp, type Sdp, type SdpMedia } from '../sdp/index.js';
import { PAYLOAD_TYPE, type G711 } from '../rtp/index.js';
import { DepositCall, type DepositLimits, type Recording } from './deposit-call.js';
import { isMessageId, readPackageHeader, type PackageRights } from '../contracts/voicemail-package.js';
import type { PackageStore } from './package-store.js';
import { openRtpChannel, type RtpChannel } from './rtp-channel.js';
import type { NameStore } from './names.js';
import { prompt } from './prompts.js';
import { g711Silence } from '../rtp/index.js';

export interface MediaServerOptions {
  /** Address written in SDP and Contact (the SIP listener's). */
  host: string;
  port: number;
  /** Verifies the softswitch's signature; without a key nothing is taken. */
  linkKey: Buffer | undefined;
  store: PackageStore;
  limits: DepositLimits;
  defaults: PackageRights;
  /** Calls at once; past it 486. */
  maxCalls: number;
  /** Licence server address for the a=drm answer; undefined: retrieval answers 503. */
  licence: { host: string; port: number } | undefined;
  /** Recorded names (src/media/names.ts); absent: the generated greeting only. */
  names?: NameStore;
  /** A recording to seal, store, deposit and notify (src/media/mailbox.ts). */
  onRecording: (r: Recording & { owner: string; sender: string; senderDisplay: string; codec: G711 }) => void;
  logger?: Logger;
}

export interface MediaServerStats {
  deposits: number;
  retrievals: number;
  refusedUnsigned: number;
  badSdp: number;
  noCommonCodec: number;
  noCommonDrm: number;
  unknownMessage: number;
  busy: number;
  rtpWrongSource: number;
  dtmfDropped: number;
}

interface Dialog {
  callId: string;
  localTag: string;
  remoteTag: string;
  /** To and From as we write them on requests we send. */
  local: string;
  remote: string;
  target: string;
  routes: string[];
  cseq: number;
  channel: RtpChannel;
  deposit?: DepositCall;
  /** Retrieval: the package to stream after the ACK. */
  stream?: { bytes: Buffer; pt: number };
  acked: boolean;
  ended: boolean;
  ackTimer?: NodeJS.Timeout;
}

const RETRIEVAL_USER = /^(.+)\.([0-9a-f]{32}|name)$/;
/** Bytes of the package per RTP packet on retrieval (as a G.711 packet's 20 ms). */
const STREAM_CHUNK = 160;

export class MediaServer {
  readonly #o: MediaServerOptions;
  readonly #verifier: CoreLinkVerifier | undefined;
  readonly #dialogs = new Map<string, Dialog>();
  #stack: SipStack | undefined;
  readonly st: MediaServerStats = { deposits: 0, retrievals: 0, refusedUnsigned: 0, badSdp: 0, noCommonCodec: 0, noCommonDrm: 0, unknownMessage: 0, busy: 0, rtpWrongSource: 0, dtmfDropped: 0 };

  constructor(o: MediaServerOptions) {
    this.#o = o;
    this.#verifier = o.linkKey ? new CoreLinkVerifier(o.linkKey) : undefined;
  }

  attach(stack: SipStack): void {
    this.#stack = stack;
  }

  get activeCalls(): number {
    return this.#dialogs.size;
  }

  close(): void {
    for (const d of this.#dialogs.values()) this.#teardown(d, false);
  }

  onRequest = async (req: SipRequest, ctx: ServerContext): Promise<void> => {
    const toTag = req.to().params.tag;
    if (req.method === 'ACK') return this.#ack(req);
    if (req.method === 'OPTIONS' && !toTag) {
      ctx.respond(200, undefined, { toTag: randomToken(), headers: [['Allow', 'INVITE, ACK, BYE, CANCEL, OPTIONS'], ['Accept', 'application/sdp']] });
      return;
    }
    if (toTag) return this.#inDialog(req, ctx, toTag);
    if (req.method !== 'INVITE') {
      ctx.respond(405, undefined, { toTag: randomToken(), headers: [['Allow', 'INVITE, ACK, BYE, CANCEL, OPTIONS']] });
      return;
    }
    const v = this.#verifier?.verify(req);
    if (!v?.ok) {
      this.st.refusedUnsigned++;
      this.#o.logger?.info({ source: `${ctx.source.address}:${ctx.source.port}`, reason: v ? v.reason : 'no-key' }, 'media: INVITE without a valid softswitch signature refused');
      ctx.respond(403, undefined, { toTag: randomToken(), headers: [this.#warning('calls reach the media server through the softswitch only')] });
      return;
    }
    // Only what the softswitch's voicemail policy sent (its P-KS-Voicemail, under the signature): not any request a subscriber routed here itself.
    const kind = req.get('P-KS-Voicemail')?.trim();
    if (kind !== 'deposit' && kind !== 'retrieval') {
      this.st.refusedUnsigned++;
      ctx.respond(403, undefined, { toTag: randomToken(), headers: [this.#warning('not sent by the softswitch\'s voicemail policy')] });
      return;
    }
    if (this.#dialogs.size >= this.#o.maxCalls) {
      this.st.busy++;
      ctx.respond(486, undefined, { toTag: randomToken() });
      return;
    }
    const ruri = req.requestUri();
    const user = 'user' in ruri && ruri.user ? ruri.user : '';
    const r = RETRIEVAL_USER.exec(user);
    if (r && kind === 'retrieval') return r[2] === 'name' ? this.#recordName(req, ctx, r[1]!) : this.#retrieve(req, ctx, r[1]!, r[2]!);
    if (!r && kind === 'deposit') return this.#deposit(req, ctx);
    ctx.respond(403, undefined, { toTag: randomToken(), headers: [this.#warning('not sent by the softswitch\'s voicemail policy')] });
  };

  // ---- deposit -----------------------------------------------------------------

  async #deposit(req: SipRequest, ctx: ServerContext): Promise<void> {
    const owner = this.#diverted(req);
    if (!owner) {
      ctx.respond(404, undefined, { toTag: randomToken(), headers: [this.#warning('no mailbox named (Diversion)')] });
      return;
    }
    const offer = this.#offer(req, ctx);
    if (!offer) return;
    const codec = this.#pickCodec(offer.sdp, offer.m);
    if (!codec) {
      this.st.noCommonCodec++;
      ctx.respond(488, undefined, { toTag: randomToken(), headers: [this.#warning('no G.711 (PCMU/PCMA) in the offer')] });
      return;
    }
    const sender = this.#asserted(req) ?? '';
    let senderDisplay = req.get('From') ?? '';
    senderDisplay = senderDisplay.replace(/;\s*tag=[^;]*/i, '').slice(0, 512);
    const d = await this.#open(req, ctx, offer.sdp, offer.m);
    if (!d) return;
    const name = this.#o.names?.load(owner, codec.name);
    d.deposit = new DepositCall({
      ...(name ? { greeting: Buffer.concat([name, Buffer.alloc(2400, g711Silence(codec.name)), prompt('beep', codec.name)]) } : {}),
      codec: codec.name,
      audioPt: codec.pt,
      eventPt: codec.eventPt,
      channel: d.channel,
      limits: this.#o.limits,
      defaults: this.#o.defaults,
      hangup: () => this.#bye(d),
      finish: (rec) => {
        this.st.dtmfDropped += d.deposit?.dtmfDropped ?? 0;
        if (rec) this.#o.onRecording({ ...rec, owner, sender, senderDisplay, codec: codec.name });
        else this.#o.logger?.info({ owner }, 'media: call ended with nothing recorded');
      },
    });
    this.st.deposits++;
    this.#answer(ctx, req, d, this.#answerSdp(d.channel.port, codec.pt, codec.name, codec.eventPt));
  }

  /** The mailbox: the softswitch's Diversion (RFC 5806), believed because the request is signed. */
  #diverted(req: SipRequest): string | undefined {
    const v = req.get('Diversion');
    if (!v) return undefined;
    try {
      return aorOf(parseNameAddr(v.split(',')[0]!.trim(), 'Diversion').uri);
    } catch {
      return undefined;
    }
  }

  #asserted(req: SipRequest): string | undefined {
    const v = req.get('P-Asserted-Identity');
    if (!v) return undefined;
    try {
      return aorOf(parseNameAddr(v.split(',')[0]!.trim(), 'P-Asserted-Identity').uri);
    } catch {
      return undefined;
    }
  }

  // ---- recorded name ---------------------------------------------------------------

  /** `sip:<user>.name@…`: the subscriber itself records the name its callers hear (a beep, up to 5 s, `#` ends). */
  async #recordName(req: SipRequest, ctx: ServerContext, user: string): Promise<void> {
    const who = this.#asserted(req);
    const names = this.#o.names;
    if (!who || who.slice(0, who.lastIndexOf('@')) !== user || !names) {
      ctx.respond(403, undefined, { toTag: randomToken(), headers: [this.#warning('only the subscriber records its name')] });
      return;
    }
    const offer = this.#offer(req, ctx);
    if (!offer) return;
    const codec = this.#pickCodec(offer.sdp, offer.m);
    if (!codec) {
      this.st.noCommonCodec++;
      ctx.respond(488, undefined, { toTag: randomToken(), headers: [this.#warning('no G.711 (PCMU/PCMA) in the offer')] });
      return;
    }
    const d = await this.#open(req, ctx, offer.sdp, offer.m);
    if (!d) return;
    d.deposit = new DepositCall({
      codec: codec.name,
      audioPt: codec.pt,
      eventPt: codec.eventPt,
      channel: d.channel,
      limits: { ...this.#o.limits, maxRecordMs: Math.min(5000, this.#o.limits.maxRecordMs), silenceMs: Math.min(3000, this.#o.limits.silenceMs) },
      defaults: this.#o.defaults,
      greeting: prompt('beep', codec.name),
      menu: false,
      hangup: () => this.#bye(d),
      finish: (rec) => {
        if (!rec) return;
        try {
          names.save(who, codec.name, rec.audio);
          this.#o.logger?.info({ owner: who }, 'media: recorded name saved');
        } catch (err) {
          this.#o.logger?.error({ owner: who, code: (err as NodeJS.ErrnoException).code ?? 'error' }, 'media: the recorded name could not be stored');
        }
      },
    });
    this.#answer(ctx, req, d, this.#answerSdp(d.channel.port, codec.pt, codec.name, codec.eventPt));
  }

  // ---- retrieval -----------------------------------------------------------------

  async #retrieve(req: SipRequest, ctx: ServerContext, user: string, messageId: string): Promise<void> {
    const who = this.#asserted(req);
    if (!who) {
      ctx.respond(403, undefined, { toTag: randomToken(), headers: [this.#warning('no authenticated identity')] });
      return;
    }
    // An id that does not exist, and one of another mailbox, get the same answer.
    const pkg = isMessageId(messageId) ? this.#o.store.read(messageId) : undefined;
    let owner: string | undefined;
    try {
      owner = pkg ? readPackageHeader(pkg).header.to : undefined;
    } catch {
      owner = undefined;
    }
    if (!pkg || owner !== who || owner.slice(0, owner.lastIndexOf('@')) !== user) {
      this.st.unknownMessage++;
      ctx.respond(404, undefined, { toTag: randomToken(), headers: [this.#warning('no such message')] });
      return;
    }
    const offer = this.#offer(req, ctx);
    if (!offer) return;
    const codec = this.#pickCodec(offer.sdp, offer.m);
    const { offers } = drmOffers(offer.sdp, offer.m);
    const common = offers.find((o) => o.type.toLowerCase() === DRM_TYPE);
    if (!common || !codec) {
      this.st.noCommonDrm++;
      const body = Buffer.from(serializeSdp(this.#sdp(0, [String(codec?.pt ?? 0)], [], [{ name: 'drm', value: formatDrm(NO_DRM) }])));
      ctx.respond(488, undefined, { toTag: randomToken(), headers: [this.#warning(common ? 'no G.711 in the offer' : 'no DRM type in common'), ['Content-Type', 'application/sdp']], body });
      return;
    }
    const lic = this.#o.licence;
    if (!lic) {
      ctx.respond(503, undefined, { toTag: randomToken(), headers: [this.#warning('no licence server configured')] });
      return;
    }
    const d = await this.#open(req, ctx, offer.sdp, offer.m);
    if (!d) return;
    d.stream = { bytes: pkg, pt: codec.pt };
    this.st.retrievals++;
    const attrs = [
      { name: 'rtpmap', value: `${codec.pt} ${codec.name}/8000` },
      { name: 'drm', value: formatDrm({ type: DRM_TYPE, address: lic.host, port: lic.port, transport: 'HTTP/TLS' }) },
      { name: 'sendonly', value: null },
    ];
    this.#answer(ctx, req, d, Buffer.from(serializeSdp(this.#sdp(d.channel.port, [String(codec.pt)], [], attrs))));
  }

  // ---- SDP and dialogs -------------------------------------------------------------

  #offer(req: SipRequest, ctx: ServerContext): { sdp: Sdp; m: SdpMedia } | undefined {
    const bad = (why: string): undefined => {
      this.st.badSdp++;
      ctx.respond(400, 'Bad SDP', { toTag: randomToken(), headers: [this.#warning(`SDP: ${why}`)] });
      return undefined;
    };
    const ct = (req.get('Content-Type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (ct !== 'application/sdp') return bad('an offer (application/sdp) is required');
    const r = parseSdp(req.body);
    if (!r.ok) return bad(r.error);
    const m = r.sdp.media.find((x) => x.media === 'audio' && x.port !== 0 && x.proto.toUpperCase().startsWith('RTP/'));
    if (!m) return bad('no audio stream');
    const addr = mediaAddress(r.sdp, m);
    if (!addr || !/^[0-9a-fA-F.:]+$/.test(addr) || addr === '0.0.0.0') return bad('the audio address must be an IP address');
    return { sdp: r.sdp, m };
  }

  #pickCodec(sdp: Sdp, m: SdpMedia): { name: G711; pt: number; eventPt: number | undefined } | undefined {
    const map = rtpMap(sdp, m);
    let eventPt: number | undefined;
    for (const [pt, e] of map) if (e.encoding.toLowerCase() === 'telephone-event' && e.clock === 8000) eventPt = Number(pt);
    for (const f of m.formats) {
      const e = map.get(f);
      if (e && e.clock === 8000 && (e.encoding.toUpperCase() === 'PCMU' || e.encoding.toUpperCase() === 'PCMA')) return { name: e.encoding.toUpperCase() as G711, pt: Number(f), eventPt };
    }
    return undefined;
  }

  #sdp(port: number, formats: string[], _unused: never[], attributes: Array<{ name: string; value: string | null }>): Sdp {
    const id = String(randomBytes(4).readUInt32BE(0));
    const fam = this.#o.host.includes(':') ? 'IP6' : 'IP4';
    return {
      origin: { username: 'keyswitch', sessId: id, sessVersion: id, netType: 'IN', addrType: fam, address: this.#o.host },
      sessionName: 'keyswitch voicemail',
      connection: { netType: 'IN', addrType: fam, address: this.#o.host },
      times: ['0 0'],
      attributes: [],
      other: [],
      media: [{ media: 'audio', port, proto: 'RTP/AVP', formats, attributes, other: [] }],
    };
  }

  #answerSdp(port: number, pt: number, name: G711, eventPt: number | undefined): Buffer {
    const formats = [String(pt), ...(eventPt !== undefined ? [String(eventPt)] : [])];
    const attrs: Array<{ name: string; value: string | null }> = [{ name: 'rtpmap', value: `${pt} ${name}/8000` }];
    if (eventPt !== undefined) attrs.push({ name: 'rtpmap', value: `${eventPt} telephone-event/8000` }, { name: 'fmtp', value: `${eventPt} 0-15` });
    attrs.push({ name: 'ptime', value: '20' }, { name: 'sendrecv', value: null });
    return Buffer.from(serializeSdp(this.#sdp(port, formats, [], attrs)));
  }

  async #open(req: SipRequest, ctx: ServerContext, sdp: Sdp, m: SdpMedia): Promise<Dialog | undefined> {
    const contact = req.contacts()[0];
    if (!contact || 'star' in contact) {
      ctx.respond(400, 'Missing Contact', { toTag: randomToken() });
      return undefined;
    }
    const remoteTag = req.from().params.tag;
    if (!remoteTag) {
      ctx.respond(400, 'Missing From tag', { toTag: randomToken() });
      return undefined;
    }
    let d: Dialog | undefined;
    const channel = await openRtpChannel({
      host: this.#o.host,
      remote: { address: mediaAddress(sdp, m)!, port: m.port },
      onPacket: (p) => d?.deposit?.onPacket(p),
    });
    const localTag = randomToken();
    const fromValue = req.get('From')!;
    const toValue = req.get('To')!;
    d = {
      callId: req.callId(),
      localTag,
      remoteTag,
      local: `${toValue.replace(/;\s*tag=[^;]*/i, '')};tag=${localTag}`,
      remote: fromValue,
      target: contact.uri ? formatContact(req.getAll('Contact')[0]!) : '',
      routes: req.getAll('Record-Route').flatMap((v) => v.split(/,(?=\s*<)/).map((s) => s.trim())),
      cseq: 1,
      channel,
      acked: false,
      ended: false,
    };
    this.#dialogs.set(dialogKey(d.callId, localTag), d);
    const dlg = d;
    ctx.onCancel(() => this.#teardown(dlg, false));
    // A 2xx never ACKed (RFC 3261 §13.3.1.4: 64·T1): the caller is gone.
    d.ackTimer = setTimeout(() => !dlg.acked && this.#teardown(dlg, true), 32_000);
    d.ackTimer.unref();
    return d;
  }

  #answer(ctx: ServerContext, req: SipRequest, d: Dialog, body: Buffer): void {
    const contact = `<sip:media@${formatHost(this.#o.host)}:${this.#o.port}>`;
    // RFC 3261 §12.1.1: the 2xx carries the Record-Route of the request, so the caller's ACK and BYE come the same way
    const rr = req.getAll('Record-Route').map((v): [string, string] => ['Record-Route', v]);
    ctx.reply(createResponse(req, 200, 'OK', { toTag: d.localTag, headers: [...rr, ['Contact', contact], ['Content-Type', 'application/sdp'], ['Allow', 'INVITE, ACK, BYE, CANCEL, OPTIONS']], body }));
  }

  #ack(req: SipRequest): void {
    const d = this.#find(req);
    if (!d || d.acked || d.ended) return;
    d.acked = true;
    if (d.ackTimer) clearTimeout(d.ackTimer);
    if (d.deposit) d.deposit.start();
    else if (d.stream) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < d.stream.bytes.length; i += STREAM_CHUNK) chunks.push(d.stream.bytes.subarray(i, i + STREAM_CHUNK));
      void d.channel.play(chunks, d.stream.pt).then(() => this.#bye(d));
    }
  }

  #inDialog(req: SipRequest, ctx: ServerContext, _toTag: string): void {
    const d = this.#find(req);
    if (!d) {
      ctx.respond(481);
      return;
    }
    if (req.method === 'BYE') {
      ctx.respond(200);
      this.#teardown(d, false);
      return;
    }
    if (req.method === 'INVITE' || req.method === 'UPDATE') {
      // No re-negotiation: the call keeps its stream (RFC 3261 §14.2 allows 488 and the dialog goes on).
      ctx.respond(488);
      return;
    }
    ctx.respond(req.method === 'INFO' || req.method === 'OPTIONS' ? 200 : 405);
  }

  #find(req: SipRequest): Dialog | undefined {
    const tag = req.to().params.tag;
    if (!tag) return undefined;
    const d = this.#dialogs.get(dialogKey(req.callId(), tag));
    return d && d.remoteTag === req.from().params.tag ? d : undefined;
  }

  /** We end the call: BYE along the route set, then teardown. */
  #bye(d: Dialog): void {
    if (d.ended) return;
    this.#teardown(d, true);
  }

  #teardown(d: Dialog, sendBye: boolean): void {
    if (d.ended) return;
    d.ended = true;
    if (d.ackTimer) clearTimeout(d.ackTimer);
    this.#dialogs.delete(dialogKey(d.callId, d.localTag));
    this.st.rtpWrongSource += d.channel.st.wrongSource;
    d.deposit?.ended();
    d.channel.close();
    if (!sendBye || !this.#stack || !d.target) return;
    const headers: Array<[string, string]> = d.routes.map((r) => ['Route', r] as [string, string]);
    headers.push(['From', d.local], ['To', d.remote], ['Call-ID', d.callId], ['CSeq', `${++d.cseq} BYE`], ['Max-Forwards', '70']);
    // For the softswitch this is an in-dialog request from the core: signed, asserting the mailbox side of the dialog.
    const local = this.#localIdentity(d);
    if (local) headers.push(['P-Asserted-Identity', `<sip:${local}>`]);
    const bye = createRequest('BYE', d.target, headers);
    if (this.#o.linkKey) signCoreLink(bye, this.#o.linkKey);
    this.#stack.send(bye).catch(() => undefined);
  }

  #localIdentity(d: Dialog): string | undefined {
    try {
      return aorOf(parseNameAddr(d.local, 'To').uri);
    } catch {
      return undefined;
    }
  }

  #warning(text: string): [string, string] {
    return ['Warning', `399 ${formatHost(this.#o.host)} "${text.replace(/["\\\r\n]/g, '')}"`];
  }
}

/** `user@host` of a SIP URI with a user part. */
function aorOf(u: Parameters<typeof identityOfUri>[0]): string | undefined {
  const id = identityOfUri(u);
  return id && id.includes('@') ? id : undefined;
}

function dialogKey(callId: string, localTag: string): string {
  return `${callId}\n${localTag}`;
}

/** The URI of a Contact header value (name-addr or bare URI). */
function formatContact(value: string): string {
  const v = value.trim();
  const lt = v.indexOf('<');
  if (lt >= 0) return v.slice(lt + 1, v.indexOf('>', lt));
  return v.split(';')[0]!.trim();
}

export type { MessageSource };
