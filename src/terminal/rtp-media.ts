/**
 * The media side of the command-line terminal: an RTP socket whose port goes
 * in the SDP offer (the media server takes RTP only from the address its
 * caller's SDP named), what the answer's SDP says to send, a tone then RFC
 * 4733 keys sent at the 20 ms pace of a phone, and a receiver that keeps the
 * packets of one source. Uses the codecs of src/rtp and src/sdp only.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { literalFirstLookup } from '../lib/udp-lookup.js';
import {
  buildRtp, buildTelephoneEvent, dtmfEvent, encodeG711, parseRtp, tones,
  type G711, type RtpPacket,
} from '../rtp/index.js';
import { attributeValues, mediaAddress, parseSdp, rtpMap, type Sdp, type SdpMedia } from '../sdp/index.js';

/** What an SDP answer tells the caller: where to send, in which G.711 law, and the telephone-event payload type if any. */
export interface AnsweredMedia {
  address: string;
  port: number;
  codec: G711;
  payloadType: number;
  dtmfPayloadType?: number;
  sdp: Sdp;
  media: SdpMedia;
}

/** Reads the first audio stream of an SDP answer; a string says why it cannot be used. */
export function answeredMedia(body: Buffer): AnsweredMedia | string {
  const r = parseSdp(body);
  if (!r.ok) return `answer SDP: ${r.error}`;
  const m = r.sdp.media.find((x) => x.media === 'audio' && x.port > 0);
  if (!m) return 'answer SDP: no audio stream accepted';
  const address = mediaAddress(r.sdp, m);
  if (!address || isIP(address) === 0) return 'answer SDP: no IP address for the audio';
  const map = rtpMap(r.sdp, m);
  let codec: G711 | undefined;
  let payloadType = -1;
  let dtmfPayloadType: number | undefined;
  for (const f of m.formats) {
    const e = map.get(f);
    const enc = e?.encoding.toUpperCase();
    if (!codec && (enc === 'PCMU' || enc === 'PCMA') && e!.clock === 8000) {
      codec = enc;
      payloadType = Number(f);
    } else if (dtmfPayloadType === undefined && enc === 'TELEPHONE-EVENT') dtmfPayloadType = Number(f);
  }
  if (!codec) return 'answer SDP: no G.711 payload type';
  return { address, port: m.port, codec, payloadType, ...(dtmfPayloadType !== undefined ? { dtmfPayloadType } : {}), sdp: r.sdp, media: m };
}

/** The `a=drm` values of an answer's audio stream (or its session). */
export const drmValues = (a: AnsweredMedia): string[] => attributeValues(a.sdp, a.media, 'drm');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class RtpEndpoint {
  readonly #received: Array<{ p: RtpPacket; from: string }> = [];
  #seq = randomBytes(2).readUInt16BE(0);
  #ts = randomBytes(4).readUInt32BE(0);
  readonly #ssrc = randomBytes(4).readUInt32BE(0);
  /** Packets kept at most (a package of media.maxRecordSeconds is far below). */
  static readonly MAX_PACKETS = 100_000;
  /** When the last RTP packet came (ms since the epoch; 0: none yet). */
  lastAt = 0;

  private constructor(readonly sock: Socket, readonly host: string, readonly port: number) {
    sock.on('message', (m, r) => {
      if (this.#received.length >= RtpEndpoint.MAX_PACKETS) return;
      const p = parseRtp(m);
      if (!p) return;
      this.lastAt = Date.now();
      this.#received.push({ p, from: `${r.address}:${r.port}` });
    });
    sock.on('error', () => undefined);
  }

  static async open(host: string): Promise<RtpEndpoint> {
    const s = createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4', lookup: literalFirstLookup });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, host, () => resolve());
    });
    return new RtpEndpoint(s, host, s.address().port);
  }

  /** Payloads received from `address:port` with payload type `pt`, in sequence-number order (wrap-around unfolded). */
  payloadsFrom(address: string, port: number, pt: number): Buffer[] {
    const from = `${address}:${port}`;
    const mine = this.#received.filter((x) => x.from === from && x.p.payloadType === pt);
    if (mine.length === 0) return [];
    let base = mine[0]!.p.sequence;
    let ext = 0;
    const keyed = mine.map((x) => {
      let d = x.p.sequence - base;
      if (d < -32768) d += 65536;
      else if (d > 32768) d -= 65536;
      ext += d;
      base = x.p.sequence;
      return { n: ext, payload: x.p.payload };
    });
    const seen = new Set<number>();
    return keyed.sort((a, b) => a.n - b.n).filter((x) => !seen.has(x.n) && seen.add(x.n)).map((x) => x.payload);
  }

  #send(to: AnsweredMedia, pt: number, payload: Buffer, marker = false, timestamp = this.#ts): void {
    const b = buildRtp({ marker, payloadType: pt, sequence: this.#seq, timestamp, ssrc: this.#ssrc, payload });
    this.#seq = (this.#seq + 1) & 0xffff;
    try {
      this.sock.send(b, to.port, to.address);
    } catch {
      // Node throws at once for a port it will not send to (an answer's SDP gave 0): media lost, not the process
    }
  }

  /**
   * `ms` of a `hz` tone in 20 ms packets, then each digit as an RFC 4733 event
   * (100 ms, end sent three times, 100 ms of tone-less gap after it); stops
   * early when `stop` says so. Paced against the clock, not by summed timers.
   */
  async sendTone(to: AnsweredMedia, hz: number, ms: number, digits: string, stop: () => boolean): Promise<void> {
    const audio = encodeG711(to.codec, tones([[hz, ms]], 8000));
    const silence = encodeG711(to.codec, new Int16Array(160));
    const start = Date.now();
    let n = 0;
    const tick = async (): Promise<boolean> => {
      n++;
      const wait = start + n * 20 - Date.now();
      if (wait > 0) await sleep(wait);
      return !stop();
    };
    for (let i = 0; i < audio.length; i += 160) {
      this.#send(to, to.payloadType, audio.subarray(i, i + 160));
      this.#ts = (this.#ts + 160) >>> 0;
      if (!(await tick())) return;
    }
    for (const d of digits) {
      if (to.dtmfPayloadType === undefined) throw new Error('the answer has no telephone-event payload type: cannot send DTMF');
      const event = dtmfEvent(d);
      const at = this.#ts;
      for (let k = 1; k <= 5; k++) {
        this.#send(to, to.dtmfPayloadType, buildTelephoneEvent({ event, end: false, volume: 10, duration: k * 160 }), k === 1, at);
        this.#ts = (this.#ts + 160) >>> 0;
        if (!(await tick())) return;
      }
      for (let k = 0; k < 3; k++) this.#send(to, to.dtmfPayloadType, buildTelephoneEvent({ event, end: true, volume: 10, duration: 800 }), false, at);
      for (let k = 0; k < 5; k++) {
        this.#send(to, to.payloadType, silence);
        this.#ts = (this.#ts + 160) >>> 0;
        if (!(await tick())) return;
      }
    }
  }

  close(): void {
    try {
      this.sock.close();
    } catch {
      // already closed
    }
  }
}

/** The SDP offer of the command-line terminal: PCMU, PCMA, telephone-event on `port`, and `extra` attribute lines. */
export function mediaOffer(user: string, host: string, port: number, extra: string[] = []): Buffer {
  const id = randomBytes(4).readUInt32BE(0);
  const ip = isIP(host) === 6 ? 'IP6' : 'IP4';
  return Buffer.from(
    ['v=0', `o=${user.replace(/[^A-Za-z0-9_.-]/g, '') || '-'} ${id} 1 IN ${ip} ${host}`, 's=keyswitch', `c=IN ${ip} ${host}`, 't=0 0',
      `m=audio ${port} RTP/AVP 0 8 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', ...extra, ''].join('\r\n'),
  );
}

