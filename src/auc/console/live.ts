import { PassThrough } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface LiveOptions {
  /** How often the fragment is rendered again; it is sent only when it changed. */
  intervalMs: number;
  /** The HTML fragment now, or null when the stream is done (sent as `end`). */
  render: () => Promise<string | null>;
  /** False once the session behind the stream has ended: the stream ends too. */
  alive: () => Promise<boolean>;
}

/** Streams open at once, in all and per session: a page left open in many tabs must not hold the store busy. */
export class StreamLimits {
  #total = 0;
  readonly #per = new Map<string, number>();
  constructor(readonly maxTotal: number, readonly maxPerSession: number) {}

  take(key: string): boolean {
    const n = this.#per.get(key) ?? 0;
    if (this.#total >= this.maxTotal || n >= this.maxPerSession) return false;
    this.#total++;
    this.#per.set(key, n + 1);
    return true;
  }

  give(key: string): void {
    this.#total--;
    const n = (this.#per.get(key) ?? 1) - 1;
    if (n <= 0) this.#per.delete(key);
    else this.#per.set(key, n);
  }
}

function event(name: string, html: string): string {
  // One `data:` line per line of the fragment; the browser joins them with newlines.
  return `event: ${name}\n${html.split(/\r\n|\r|\n/).map((l) => `data: ${l}`).join('\n')}\n\n`;
}

/**
 * A server-sent event stream of one re-rendered HTML fragment (a live table):
 * `rows` with the new fragment when it changed, `end` when the stream is
 * over (session ended, job finished). The reply goes through the usual hooks,
 * so it carries the same security headers as every page.
 */
export function liveStream(req: FastifyRequest, reply: FastifyReply, o: LiveOptions, onClose: () => void): FastifyReply {
  const out = new PassThrough();
  let last: string | undefined;
  let closed = false;
  let busy = false;
  let quiet = 0;
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(timer);
    out.end();
    onClose();
  };
  const tick = async () => {
    if (busy || closed) return;
    busy = true;
    try {
      if (!(await o.alive())) {
        out.write(event('end', 'session ended'));
        return close();
      }
      const html = await o.render();
      if (closed) return;
      if (html === null) {
        out.write(event('end', ''));
        return close();
      }
      if (html !== last) {
        last = html;
        quiet = 0;
        out.write(event('rows', html));
      } else if (++quiet * o.intervalMs >= 15_000) {
        // a comment now and then finds a client that went away without closing
        quiet = 0;
        out.write(': keep-alive\n\n');
      }
    } catch (err) {
      req.log.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'console live stream failed');
      close();
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), o.intervalMs);
  // the response's close, not the request's: a GET's request closes as soon as it has been read
  reply.raw.on('close', close);
  out.on('error', close);
  void tick();
  return reply.header('content-type', 'text/event-stream; charset=utf-8').header('x-accel-buffering', 'no').send(out);
}
