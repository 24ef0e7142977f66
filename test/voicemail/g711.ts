/**
 * The tests' own G.711 (ITU-T G.711, as in the reference g711.c), kept apart
 * from the code under test so that the page's decoder is checked against an
 * independent oracle; test/voicemail/licence-api anchors it on table values.
 */
const BIAS = 0x84;
const SEG_END = [0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff, 0x3fff, 0x7fff];

function segment(v: number): number {
  for (let i = 0; i < 8; i++) if (v <= SEG_END[i]!) return i;
  return 8;
}

export function linearToUlaw(pcm: number): number {
  let mask: number;
  if (pcm < 0) {
    pcm = BIAS - pcm;
    mask = 0x7f;
  } else {
    pcm += BIAS;
    mask = 0xff;
  }
  pcm = Math.min(pcm, 0x7fff);
  const seg = segment(pcm);
  if (seg >= 8) return 0x7f ^ mask;
  return ((seg << 4) | ((pcm >> (seg + 3)) & 0xf)) ^ mask;
}

export function ulawToLinear(u: number): number {
  u = ~u & 0xff;
  let t = ((u & 0x0f) << 3) + BIAS;
  t <<= (u & 0x70) >> 4;
  return u & 0x80 ? BIAS - t : t - BIAS;
}

/** A tone of `ms` milliseconds at `hz`, 8000 samples/s, as μ-law bytes, and the 16-bit PCM a decoder must give back. */
export function ulawTone(ms: number, hz: number, amplitude = 8000): { ulaw: Buffer; pcm: Int16Array } {
  const n = (ms * 8000) / 1000;
  const ulaw = Buffer.alloc(n);
  const pcm = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    ulaw[i] = linearToUlaw(Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / 8000)));
    pcm[i] = ulawToLinear(ulaw[i]!);
  }
  return { ulaw, pcm };
}
