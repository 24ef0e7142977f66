/**
 * The media server's generated prompts: tone patterns, so that no recorded
 * audio ships with keyswitch. Each is distinct enough to tell apart by ear
 * (docs/voicemail.md, "Deposit").
 */
import { encodeG711, tones, type G711 } from '../rtp/index.js';

const PATTERNS = {
  /** Greeting: three rising notes, then the record beep. */
  greeting: [[523, 180], [0, 40], [659, 180], [0, 40], [784, 180], [0, 300], [1000, 250], [0, 50]],
  /** Start of recording (also after re-record). */
  beep: [[1000, 250], [0, 50]],
  /** The menu: two low notes, repeated after each choice. */
  menu: [[440, 150], [0, 60], [440, 150], [0, 200]],
  /** A choice was taken. */
  ok: [[880, 120], [0, 40], [1320, 120], [0, 100]],
  /** A key that means nothing here. */
  error: [[300, 400], [0, 100]],
  /** Saved, goodbye. */
  saved: [[784, 150], [0, 40], [659, 150], [0, 40], [523, 300], [0, 100]],
} satisfies Record<string, ReadonlyArray<readonly [number, number]>>;

export type PromptName = keyof typeof PATTERNS;

const cache = new Map<string, Buffer>();

/** A prompt as G.711 bytes of the call's codec (built once per codec). */
export function prompt(name: PromptName, codec: G711): Buffer {
  const k = `${name}/${codec}`;
  let b = cache.get(k);
  if (!b) {
    b = encodeG711(codec, tones(PATTERNS[name], 6000));
    cache.set(k, b);
  }
  return b;
}

/** Milliseconds a prompt lasts. */
export function promptMs(name: PromptName): number {
  return PATTERNS[name].reduce((n, [, ms]) => n + ms, 0);
}
