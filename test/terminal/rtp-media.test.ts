/** The command-line terminal's media helpers: the SDP answer read, the RTP stream reassembled in order, the tone paced and keyed, the WAV. */
import { createSocket } from 'node:dgram';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildRtp, decodeG711, parseRtp, parseTelephoneEvent } from '../../src/rtp/index.js';
import { answeredMedia, mediaOffer, RtpEndpoint } from '../../src/terminal/rtp-media.js';
import { wav } from '../../src/terminal/voicemail.js';

const answer = (lines: string[]) => Buffer.from(['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', ...lines, ''].join('\r\n'));

describe('terminal media', () => {
  it('reads the answer: address, port, the first G.711 law and telephone-event; says why it cannot', () => {
    expect(answeredMedia(answer(['m=audio 4000 RTP/AVP 8 101', 'a=rtpmap:101 telephone-event/8000']))).toMatchObject({ address: '127.0.0.1', port: 4000, codec: 'PCMA', payloadType: 8, dtmfPayloadType: 101 });
    expect(answeredMedia(answer(['m=audio 4000 RTP/AVP 0']))).toMatchObject({ codec: 'PCMU', payloadType: 0 });
    expect(answeredMedia(answer(['m=audio 4000 RTP/AVP 0'])) as object).not.toHaveProperty('dtmfPayloadType');
    expect(answeredMedia(answer(['m=audio 0 RTP/AVP 0']))).toMatch(/no audio stream/);
    expect(answeredMedia(answer(['m=audio 4000 RTP/AVP 18', 'a=rtpmap:18 G729/8000']))).toMatch(/no G\.711/);
    expect(answeredMedia(Buffer.from('nonsense'))).toMatch(/answer SDP/);
    expect(answeredMedia(Buffer.from(['v=0', 'o=- 1 1 IN IP4 h', 's=-', 'c=IN IP4 not-an-ip', 't=0 0', 'm=audio 4000 RTP/AVP 0', ''].join('\r\n')))).toMatch(/no IP address/);
  });

  it('never throws on hostile answers', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
      const r = answeredMedia(Buffer.from(b));
      expect(['string', 'object']).toContain(typeof r);
    }), { numRuns: 500 });
    fc.assert(fc.property(fc.array(fc.string({ maxLength: 40 }), { maxLength: 12 }), (lines) => void answeredMedia(answer(['m=audio 4000 RTP/AVP 0 101', ...lines]))), { numRuns: 500 });
  });

  it('reassembles a stream by sequence number across the wrap, from its source only, dropping duplicates', async () => {
    const rx = await RtpEndpoint.open('127.0.0.1');
    const good = createSocket('udp4');
    const other = createSocket('udp4');
    await Promise.all([good, other].map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()))));
    try {
      const seqs = [65534, 0, 65535, 1, 1];
      for (const s of seqs) good.send(buildRtp({ marker: false, payloadType: 0, sequence: s, timestamp: 0, ssrc: 1, payload: Buffer.from([s & 0xff]) }), rx.port, '127.0.0.1');
      other.send(buildRtp({ marker: false, payloadType: 0, sequence: 2, timestamp: 0, ssrc: 1, payload: Buffer.from([9]) }), rx.port, '127.0.0.1');
      good.send(buildRtp({ marker: false, payloadType: 101, sequence: 3, timestamp: 0, ssrc: 1, payload: Buffer.from([7, 0, 0, 0]) }), rx.port, '127.0.0.1');
      for (let i = 0; i < 100 && rx.lastAt === 0; i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 50));
      expect(Buffer.concat(rx.payloadsFrom('127.0.0.1', good.address().port, 0))).toEqual(Buffer.from([0xfe, 0xff, 0, 1]));
    } finally {
      rx.close();
      good.close();
      other.close();
    }
  });

  it('sends the tone in 20 ms packets of the answer\'s law, then each key as RFC 4733 events with one timestamp', async () => {
    const tx = await RtpEndpoint.open('127.0.0.1');
    const sink = createSocket('udp4');
    const got: Buffer[] = [];
    sink.on('message', (m) => got.push(m));
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
    try {
      const to = answeredMedia(answer([`m=audio ${sink.address().port} RTP/AVP 8 101`, 'a=rtpmap:101 telephone-event/8000']));
      if (typeof to === 'string') throw new Error(to);
      await tx.sendTone(to, 1000, 200, '#5', () => false);
      await new Promise((r) => setTimeout(r, 100));
      const pkts = got.map((b) => parseRtp(b)!);
      const audio = pkts.filter((p) => p.payloadType === 8);
      expect(audio.slice(0, 10).every((p) => p.payload.length === 160)).toBe(true);
      const pcm = decodeG711('PCMA', Buffer.concat(audio.slice(0, 10).map((p) => p.payload)));
      let rises = 0;
      for (let i = 1; i < pcm.length; i++) if (pcm[i - 1]! < 0 && pcm[i]! >= 0) rises++;
      expect(rises).toBeGreaterThanOrEqual(199);
      expect(rises).toBeLessThanOrEqual(201);
      const events = pkts.filter((p) => p.payloadType === 101).map((p) => ({ ts: p.timestamp, e: parseTelephoneEvent(p.payload)! }));
      expect([...new Set(events.map((x) => x.e.event))]).toEqual([11, 5]);
      for (const k of [11, 5]) {
        const mine = events.filter((x) => x.e.event === k);
        expect(new Set(mine.map((x) => x.ts)).size).toBe(1);
        expect(mine.filter((x) => x.e.end)).toHaveLength(3);
      }
      const seq = pkts.map((p) => p.sequence);
      for (let i = 1; i < seq.length; i++) expect(seq[i]).toBe((seq[i - 1]! + 1) & 0xffff);
    } finally {
      tx.close();
      sink.close();
    }
  });

  it('the offer names the socket\'s port and the extra lines; the WAV header is 16-bit mono PCM at 8 kHz', () => {
    const o = mediaOffer('bob', '127.0.0.1', 4242, ['a=drm:ksdrm 0 0 HTTP/TLS']).toString();
    expect(o).toContain('m=audio 4242 RTP/AVP 0 8 101');
    expect(o).toContain('a=drm:ksdrm 0 0 HTTP/TLS');
    const w = wav(Int16Array.from([1, -2, 32767]));
    expect(w.length).toBe(50);
    expect([w.toString('ascii', 0, 4), w.readUInt32LE(4), w.toString('ascii', 8, 16), w.readUInt16LE(20), w.readUInt16LE(22), w.readUInt32LE(24), w.readUInt32LE(28), w.readUInt16LE(32), w.readUInt16LE(34), w.readUInt32LE(40)])
      .toEqual(['RIFF', 42, 'WAVEfmt ', 1, 1, 8000, 16000, 2, 16, 6]);
    expect([w.readInt16LE(44), w.readInt16LE(46), w.readInt16LE(48)]).toEqual([1, -2, 32767]);
  });
});
