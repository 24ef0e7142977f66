/** Test media: the known tone, RFC 4733 key presses, the pcap sipp plays, an RTP socket that keeps what it hears. */
import { createSocket, type Socket } from 'node:dgram';
import { buildRtp, buildTelephoneEvent, dtmfEvent, encodeG711, g711Silence, parseRtp, tones, type RtpPacket } from '../../src/rtp/index.js';
import { writePcap, type PcapPacket } from '../helpers/pcap.js';

/** The known tone sequence (PCMU): four notes, 2 s. */
export const TONE = encodeG711('PCMU', tones([[440, 500], [880, 500], [660, 500], [1000, 500]], 9000));

export interface Step {
  /** Audio to send (PCMU bytes, cut in 20 ms packets). */
  audio?: Buffer;
  /** A key press (RFC 4733, PT 101). */
  key?: string;
  /** Silence, ms. */
  pauseMs?: number;
}

/** RTP packets with their send time (ms from the first) for a script of audio, keys and pauses. */
export function rtpScript(steps: Step[], ssrc = 0x1234abcd): Array<{ at: number; bytes: Buffer }> {
  const out: Array<{ at: number; bytes: Buffer }> = [];
  let seq = 1000;
  let ts = 160_000;
  let at = 0;
  const push = (pt: number, payload: Buffer, marker = false, advance = true, timestamp = ts) => {
    out.push({ at, bytes: buildRtp({ marker, payloadType: pt, sequence: seq++ & 0xffff, timestamp, ssrc, payload }) });
    if (advance) {
      at += 20;
      ts += 160;
    }
  };
  for (const s of steps) {
    if (s.audio) for (let i = 0; i < s.audio.length; i += 160) push(0, s.audio.subarray(i, i + 160));
    if (s.pauseMs) for (let i = 0; i < s.pauseMs / 20; i++) push(0, Buffer.alloc(160, g711Silence('PCMU')));
    if (s.key !== undefined) {
      const event = dtmfEvent(s.key);
      const start = ts;
      // RFC 4733 §2.5: updates with growing duration, then the end three times, one timestamp
      for (let d = 1; d <= 5; d++) push(101, buildTelephoneEvent({ event, end: false, volume: 10, duration: d * 160 }), d === 1, true, start);
      for (let i = 0; i < 3; i++) push(101, buildTelephoneEvent({ event, end: true, volume: 10, duration: 960 }), false, i === 2, start);
      // a gap after each key
      for (let i = 0; i < 10; i++) push(0, Buffer.alloc(160, g711Silence('PCMU')));
    }
  }
  return out;
}

/** The script as a pcap for sipp's play_pcap_audio (which sends to the SDP's port, from its own media port). */
export function writeScriptPcap(file: string, script: Array<{ at: number; bytes: Buffer }>): void {
  const t0 = 1_700_000_000_000;
  const packets: PcapPacket[] = script.map((p) => ({ proto: 'udp', src: ['127.0.0.1', 40000], dst: ['127.0.0.1', 50000], payload: p.bytes, time: t0 + p.at }));
  writePcap(file, packets);
}

/** A UDP socket that sends a script and keeps every RTP packet it receives. */
export class RtpPeer {
  readonly received: Array<{ p: RtpPacket; from: string }> = [];
  private constructor(readonly sock: Socket, readonly port: number) {
    sock.on('message', (m, r) => {
      const p = parseRtp(m);
      if (p) this.received.push({ p, from: `${r.address}:${r.port}` });
    });
  }

  /** Bound to `address` (any of 127/8 is loopback on Linux) and `port` (0: ephemeral). */
  static async open(address = '127.0.0.1', port = 0): Promise<RtpPeer> {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(port, address, () => r()));
    return new RtpPeer(s, s.address().port);
  }

  async play(script: Array<{ at: number; bytes: Buffer }>, to: { address: string; port: number }): Promise<void> {
    const start = Date.now();
    for (const p of script) {
      const wait = start + p.at - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      this.sock.send(p.bytes, to.port, to.address);
    }
  }

  close(): void {
    this.sock.close();
  }
}

/** The SDP offer of a test phone: PCMU and telephone-event, and `extra` lines (a=drm…). */
export function offer(port: number, extra: string[] = []): Buffer {
  return Buffer.from(['v=0', 'o=test 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', ...extra, ''].join('\r\n'));
}

/** Does `hay` hold `needle`'s middle (a second of it) as one run? */
export function holdsTone(hay: Buffer, needle = TONE): boolean {
  return hay.includes(needle.subarray(needle.length / 4, (needle.length * 3) / 4));
}

/** Any 32-byte run of the tone inside `hay` (plaintext leaking). */
export function leaksTone(hay: Buffer, needle = TONE): boolean {
  for (let i = 0; i + 32 <= needle.length; i += 16) if (hay.includes(needle.subarray(i, i + 32))) return true;
  return false;
}
