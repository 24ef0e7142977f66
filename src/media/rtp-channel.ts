/**
 * One call's RTP: a UDP socket of its own, packets taken only from the
 * address and port the peer's SDP named (anything else is dropped and
 * counted), and a paced sender (one packet every 20 ms) for what we play.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { literalFirstLookup } from '../lib/udp-lookup.js';
import { buildRtp, parseRtp, type RtpPacket } from '../rtp/index.js';

export const PACKET_MS = 20;
/** Samples (= G.711 bytes) per 20 ms packet. */
export const PACKET_SAMPLES = 160;

export interface RtpChannelStats {
  received: number;
  /** From another address or port than the SDP named. */
  wrongSource: number;
  /** Not RTP at all. */
  malformed: number;
  sent: number;
}

export interface RtpChannel {
  readonly port: number;
  readonly st: RtpChannelStats;
  /** Queues payloads (each one packet) to be sent paced; resolves when the last went out or the queue was cleared. */
  play(payloads: Buffer[], payloadType: number): Promise<void>;
  /** Drops what is queued (the caller pressed a key during a prompt). */
  clear(): void;
  /** Unix ms of the last packet accepted from the peer (or of the channel's start). */
  readonly lastHeard: number;
  close(): void;
}

export async function openRtpChannel(o: {
  host: string;
  remote: { address: string; port: number };
  onPacket: (p: RtpPacket) => void;
  now?: () => number;
}): Promise<RtpChannel> {
  const sock: Socket = createSocket({ type: isIPv6(o.host) ? 'udp6' : 'udp4', lookup: literalFirstLookup });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, o.host, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  const now = o.now ?? Date.now;
  const st: RtpChannelStats = { received: 0, wrongSource: 0, malformed: 0, sent: 0 };
  let lastHeard = now();
  const remoteAddr = o.remote.address.replace(/^::ffff:/i, '');
  sock.on('error', () => undefined);
  sock.on('message', (msg, rinfo) => {
    if (rinfo.address.replace(/^::ffff:/i, '') !== remoteAddr || rinfo.port !== o.remote.port) {
      st.wrongSource++;
      return;
    }
    const p = parseRtp(msg);
    if (!p) {
      st.malformed++;
      return;
    }
    st.received++;
    lastHeard = now();
    o.onPacket(p);
  });

  const ssrc = randomBytes(4).readUInt32BE(0);
  let seq = randomBytes(2).readUInt16BE(0);
  let ts = randomBytes(4).readUInt32BE(0);
  let queue: Array<{ payload: Buffer; pt: number }> = [];
  let waiters: Array<() => void> = [];
  let timer: NodeJS.Timeout | undefined;
  let first = true;
  const tick = (): void => {
    const next = queue.shift();
    if (!next) {
      timer && clearInterval(timer);
      timer = undefined;
      const w = waiters;
      waiters = [];
      for (const f of w) f();
      return;
    }
    const pkt = buildRtp({ marker: first, payloadType: next.pt, sequence: seq, timestamp: ts, ssrc, payload: next.payload });
    first = false;
    seq = (seq + 1) & 0xffff;
    ts = (ts + PACKET_SAMPLES) >>> 0;
    st.sent++;
    sock.send(pkt, o.remote.port, o.remote.address, () => undefined);
  };
  let closed = false;
  return {
    port: sock.address().port,
    st,
    get lastHeard() {
      return lastHeard;
    },
    play(payloads, pt) {
      if (closed) return Promise.resolve();
      for (const payload of payloads) queue.push({ payload, pt });
      if (!timer) {
        timer = setInterval(tick, PACKET_MS);
        timer.unref();
      }
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
    clear() {
      queue = [];
    },
    close() {
      if (closed) return;
      closed = true;
      queue = [];
      if (timer) clearInterval(timer);
      timer = undefined;
      const w = waiters;
      waiters = [];
      for (const f of w) f();
      sock.close();
    },
  };
}

/** Cuts a G.711 buffer into 20 ms payloads (the last one padded with `fill`). */
export function packetize(audio: Buffer, fill: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < audio.length; i += PACKET_SAMPLES) {
    const chunk = audio.subarray(i, i + PACKET_SAMPLES);
    out.push(chunk.length === PACKET_SAMPLES ? chunk : Buffer.concat([chunk, Buffer.alloc(PACKET_SAMPLES - chunk.length, fill)]));
  }
  return out;
}
