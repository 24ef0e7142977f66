/**
 * Cuts a TCP byte stream into Diameter messages: many per read, or one split
 * over many reads. Holds at most one partial message, bounded by maxMessageSize.
 */
import { DIAMETER_VERSION, HEADER_LENGTH } from './constants.js';

export type FramingProblem = 'unsupported-version' | 'bad-length' | 'too-long';

export interface FramingError {
  problem: FramingProblem;
  /** The first 20 bytes when they had arrived, so the peer can answer before closing. */
  header?: Buffer;
}

export class DiameterFramer {
  private chunks: Buffer[] = [];
  private pendingLength = 0;
  /** Bytes needed before it is worth joining the pending chunks (a header, or the whole message). */
  private need = 0;
  private failed = false;

  constructor(readonly maxMessageSize = 65536) {}

  /** Feeds a chunk; calls onMessage for each whole message. After an error the framer stays failed. */
  push(chunk: Buffer, onMessage: (msg: Buffer) => void): FramingError | undefined {
    if (this.failed) return { problem: 'bad-length' };
    let buf = chunk;
    if (this.pendingLength > 0) {
      // Joining only once enough has arrived keeps a trickled message linear in cost.
      this.chunks.push(chunk);
      this.pendingLength += chunk.length;
      if (this.pendingLength < this.need) return undefined;
      buf = Buffer.concat(this.chunks, this.pendingLength);
      this.chunks = [];
      this.pendingLength = 0;
    }
    let off = 0;
    let need = 4;
    while (buf.length - off >= 4) {
      const version = buf[off]!;
      const length = buf.readUIntBE(off + 1, 3);
      const bad: FramingProblem | undefined =
        version !== DIAMETER_VERSION
          ? 'unsupported-version'
          : length < HEADER_LENGTH || length % 4 !== 0
            ? 'bad-length'
            : length > this.maxMessageSize
              ? 'too-long'
              : undefined;
      if (bad) {
        this.failed = true;
        const header = buf.length - off >= HEADER_LENGTH ? Buffer.from(buf.subarray(off, off + HEADER_LENGTH)) : undefined;
        return header ? { problem: bad, header } : { problem: bad };
      }
      if (buf.length - off < length) {
        need = length;
        break;
      }
      const msg = buf.subarray(off, off + length);
      off += length;
      onMessage(msg);
      if (this.failed) return undefined;
    }
    if (off < buf.length) {
      // Copy the tail so a small remainder does not pin a large read buffer.
      this.chunks = [Buffer.from(buf.subarray(off))];
      this.pendingLength = buf.length - off;
      this.need = need;
    }
    return undefined;
  }

  /** Stops framing (the connection is going away). */
  stop(): void {
    this.failed = true;
    this.chunks = [];
    this.pendingLength = 0;
  }

  get buffered(): number {
    return this.pendingLength;
  }
}
