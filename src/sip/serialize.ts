/** SipMessage → bytes. Untouched lines are copied from the source; Content-Length is the body's byte count. */
import { newHeader, type SipMessage } from './message.js';

/** Makes Content-Length say the body's byte length (kept as written when it already does). */
export function syncContentLength(msg: SipMessage): void {
  const n = msg.body.length;
  let found = 0;
  let right = true;
  for (const h of msg.headers) {
    if (h.key !== 'content-length') continue;
    found++;
    if (!/^[0-9]+$/.test(h.value) || Number(h.value) !== n) right = false;
  }
  if (found === 1 && right) return;
  if (found === 0) msg.headers.push(newHeader('Content-Length', String(n)));
  else msg.set('Content-Length', String(n));
}

export function serialize(msg: SipMessage): Buffer {
  syncContentLength(msg);
  const src = msg.source;
  const hs = msg.headers;
  let total = 2 + msg.body.length;
  const slr = msg.startLineRange;
  let startLine: string | undefined;
  if (src && slr[0] >= 0) total += slr[1] - slr[0];
  else {
    startLine = (msg as unknown as { startLine(): string }).startLine() + '\r\n';
    total += Buffer.byteLength(startLine);
  }
  for (let k = 0; k < hs.length; k++) {
    const h = hs[k]!;
    total += src && h.start >= 0 ? h.end - h.start : Buffer.byteLength(h.name) + Buffer.byteLength(h.value) + 4;
  }
  const out = Buffer.allocUnsafe(total);
  let o = 0;
  if (startLine === undefined) o += src!.copy(out, o, slr[0], slr[1]);
  else o += out.write(startLine, o, 'utf8');
  for (let k = 0; k < hs.length; k++) {
    const h = hs[k]!;
    if (src && h.start >= 0) {
      // copy a run of untouched, contiguous lines at once
      let end = h.end;
      while (k + 1 < hs.length && hs[k + 1]!.start === end) end = hs[++k]!.end;
      o += src.copy(out, o, h.start, end);
    } else {
      o += out.write(h.name, o, 'utf8');
      out[o++] = 58;
      out[o++] = 32;
      o += out.write(h.value, o, 'utf8');
      out[o++] = 13;
      out[o++] = 10;
    }
  }
  out[o++] = 13;
  out[o++] = 10;
  o += msg.body.copy(out, o);
  return o === total ? out : out.subarray(0, o);
}
