/**
 * ResponseAck (`K:`) values (RFC 3435 §3.2.2.19): confirmed transaction ids
 * as a comma-separated list of `tid` or `lo-hi` ranges. An empty `K:` on a
 * final response asks the receiver for a `000` response acknowledgement.
 */
import { isValidTid } from './types.js';

export type TidRange = [number, number];
export const MAX_ACK_RANGES = 64;

export function parseAckRanges(value: string): TidRange[] | undefined {
  const text = value.trim();
  if (text === '') return [];
  const parts = text.split(',');
  if (parts.length > MAX_ACK_RANGES) return undefined;
  const out: TidRange[] = [];
  for (const raw of parts) {
    const m = /^\s*(\d{1,9})\s*(?:-\s*(\d{1,9})\s*)?$/.exec(raw);
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (!isValidTid(lo) || !isValidTid(hi) || hi < lo) return undefined;
    out.push([lo, hi]);
  }
  return out;
}

/** Compresses tids into ranges (`3-5, 9`), at most MAX_ACK_RANGES of them; the rest are left out. */
export function formatAckRanges(tids: Iterable<number>): string {
  const sorted = [...new Set(tids)].filter(isValidTid).sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < sorted.length && ranges.length < MAX_ACK_RANGES; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    ranges.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return ranges.join(', ');
}

export const inRanges = (tid: number, ranges: TidRange[]): boolean => ranges.some(([lo, hi]) => tid >= lo && tid <= hi);
