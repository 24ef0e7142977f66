/**
 * Stream framing and the parser agree on where a header section ends (RFC 3261 §7.5:
 * a bare LF ends a line, so a bare-LF blank line ends the headers). A TCP peer that
 * writes LF line ends is framed and answered, not left waiting until the deadline.
 */
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { createSipStack, createTcpTransport, findMessageLength, parseMessage, type SipStack, type SipRequest } from '../../src/sip/index.js';

const stacks: SipStack[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});

const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 5));
  }
};

function options(callId: string, eol: string, body = ''): string {
  return [
    'OPTIONS sip:x@127.0.0.1 SIP/2.0',
    'Via: SIP/2.0/TCP 127.0.0.1:5099;branch=z9hG4bK' + callId,
    'To: <sip:x@lab.example>',
    'From: <sip:y@lab.example>;tag=1',
    `Call-ID: ${callId}`,
    'CSeq: 1 OPTIONS',
    'Max-Forwards: 70',
    ...(body ? ['Content-Type: text/plain'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join(eol);
}

/** Splits what came back on the connection into messages. */
function frames(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (;;) {
    const f = findMessageLength(buf);
    if (f.kind === 'keepalive') buf = buf.subarray(f.length);
    else if (f.kind === 'message') {
      out.push(buf.subarray(0, f.length));
      buf = buf.subarray(f.length);
    } else return out;
  }
}

describe('stream framing of bare-LF messages', () => {
  it('frames where the parser ends the header section, for LF, CRLF and mixed blank lines', () => {
    const body = 'a\r\n\r\nb';
    for (const eol of ['\n', '\r\n']) {
      const m = Buffer.from(options('c1', eol, body));
      expect(findMessageLength(Buffer.concat([m, m]))).toEqual({ kind: 'message', length: m.length });
      const p = parseMessage(m, { datagram: false });
      expect(p.ok && p.message.body.toString()).toBe(body);
    }
    // a CRLF line end followed by a bare-LF blank line, and the other way round
    for (const blank of ['\r\n\n', '\n\r\n']) {
      const m = Buffer.from(options('c2', '\r\n').replace(/\r\n\r\n$/, blank));
      expect(findMessageLength(m)).toEqual({ kind: 'message', length: m.length });
      expect(parseMessage(m, { datagram: false }).ok).toBe(true);
    }
    // an LF message whose body holds a CRLF blank line: the headers end at the first blank line
    const lf = Buffer.from(options('c3', '\n', 'x\r\n\r\ny'));
    const p = parseMessage(lf, { datagram: false });
    expect(p.ok && p.message.body.toString()).toBe('x\r\n\r\ny');
    expect(findMessageLength(lf.subarray(0, lf.length - 1))).toEqual({ kind: 'incomplete' });
  });

  it('answers a TCP peer that ends its lines with bare LF, pipelined messages included', async () => {
    const seen: string[] = [];
    const stack = createSipStack({
      transports: [await createTcpTransport()],
      onRequest: (req: SipRequest, ctx) => {
        seen.push(req.callId() + ':' + req.body.toString());
        ctx.respond(200);
      },
      timers: { T1: 20, T2: 80, T4: 100 },
    });
    stacks.push(stack);
    const sock = net.connect(stack.transports[0]!.port, '127.0.0.1');
    sockets.push(sock);
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => (buf = Buffer.concat([buf, d])));
    await new Promise((r) => sock.once('connect', r));
    // two messages in one write, then one in two pieces split inside its blank line
    sock.write(options('lf1', '\n') + options('lf2', '\n', 'body\r\n\r\nmore'));
    const third = options('lf3', '\n');
    sock.write(third.slice(0, -1));
    await new Promise((r) => setTimeout(r, 50));
    sock.write(third.slice(-1));
    await until(() => frames(buf).length === 3);
    const answers = frames(buf).map((f) => parseMessage(f, { datagram: false }));
    expect(answers.map((a) => a.ok && a.message.isResponse() && a.message.status)).toEqual([200, 200, 200]);
    expect(answers.map((a) => a.ok && a.message.callId())).toEqual(['lf1', 'lf2', 'lf3']);
    expect(seen).toEqual(['lf1:', 'lf2:body\r\n\r\nmore', 'lf3:']);
  });
});
