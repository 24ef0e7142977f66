/** A deposit call's recording ends at the length limit and after silence (docs/voicemail.md, "Deposit"), with a real RTP channel. */
import { describe, expect, it } from 'vitest';
import { DepositCall, type Recording } from '../../src/media/deposit-call.js';
import { openRtpChannel } from '../../src/media/rtp-channel.js';
import { RtpPeer, rtpScript, TONE } from './voicemail-rtp.js';

async function run(limits: { maxRecordMs: number; silenceMs: number }, script: ReturnType<typeof rtpScript>): Promise<{ rec: Recording | undefined; states: string[] }> {
  const peer = await RtpPeer.open();
  let call: DepositCall | undefined;
  const channel = await openRtpChannel({ host: '127.0.0.1', remote: { address: '127.0.0.1', port: peer.port }, onPacket: (p) => call?.onPacket(p) });
  const states: string[] = [];
  let done!: (r: Recording | undefined) => void;
  const finished = new Promise<Recording | undefined>((r) => (done = r));
  call = new DepositCall({
    codec: 'PCMU', audioPt: 0, eventPt: 101, channel,
    limits: { ...limits, rtpTimeoutMs: 5000, menuTimeoutMs: 400, maxDtmfPerSecond: 10, silenceLevel: 200 },
    defaults: { maxPlays: 0, expiresDays: 0, mayForward: true },
    // an empty greeting: recording starts at once
    greeting: Buffer.alloc(0),
    hangup: () => undefined,
    finish: done,
  });
  const watch = setInterval(() => states[states.length - 1] !== call!.state && states.push(call!.state), 10);
  try {
    call.start();
    await peer.play(script, { address: '127.0.0.1', port: channel.port });
    return { rec: await finished, states };
  } finally {
    clearInterval(watch);
    channel.close();
    peer.close();
  }
}

describe('deposit call', () => {
  it('stops recording at the length limit: the message is exactly that long, then the menu', async () => {
    const { rec, states } = await run({ maxRecordMs: 1000, silenceMs: 60_000 }, rtpScript([{ audio: TONE }]));
    expect(rec?.audio.length).toBe(8000);
    // a run of the tone (the first packet may come before recording starts)
    expect(TONE.includes(rec!.audio)).toBe(true);
    expect(states).toContain('menu');
    expect(rec?.reason).toBe('menu-timeout');
  });

  it('stops recording after silence: what was said is kept, then the menu', async () => {
    const { rec, states } = await run({ maxRecordMs: 60_000, silenceMs: 500 }, rtpScript([{ audio: TONE.subarray(0, 4000) }, { pauseMs: 1500 }]));
    expect(states).toContain('menu');
    expect(TONE.subarray(0, 4000).includes(rec!.audio.subarray(0, 3000))).toBe(true);
    // the menu came from the silence: no `#`, far from the length limit, and the line was live (no RTP timeout, which ends without the menu)
    expect(rec?.reason).toBe('menu-timeout');
  });
});
