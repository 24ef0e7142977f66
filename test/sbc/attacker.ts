/** A third party on another address (127.0.0.2): raw SIP over UDP to the SBC, and what comes back. */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { parseMessage, type SipResponse } from '../../src/sip/index.js';
import type { DialogInfo } from '../../src/terminal/call.js';

export interface Attacker {
  host: string;
  port: number;
  /** Sends a request and resolves with the final response, or undefined after `ms`. */
  ask(text: string, ms?: number): Promise<SipResponse | undefined>;
  close(): void;
}

export async function startAttacker(sbcPort: number, host = '127.0.0.2'): Promise<Attacker> {
  const sock: Socket = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, host, () => r()));
  const waiting = new Map<string, (r: SipResponse) => void>();
  sock.on('message', (b) => {
    const p = parseMessage(b, { datagram: true });
    if (!p.ok || !p.message.isResponse()) return;
    const res = p.message as SipResponse;
    if (res.status < 200) return;
    const branch = String(res.topVia()?.params.branch);
    waiting.get(branch)?.(res);
  });
  const port = sock.address().port;
  return {
    host,
    port,
    ask(text, ms = 1500) {
      const branch = /branch=([^;\s]+)/.exec(text)![1]!;
      return new Promise((resolve) => {
        const t = setTimeout(() => {
          waiting.delete(branch);
          resolve(undefined);
        }, ms);
        waiting.set(branch, (r) => {
          clearTimeout(t);
          waiting.delete(branch);
          resolve(r);
        });
        sock.send(Buffer.from(text.replace(/\r?\n/g, '\r\n')), sbcPort, '127.0.0.1');
      });
    },
    close: () => sock.close(),
  };
}

/** An in-dialog request as the caller would send it, with the given Route set. */
export function inDialogRequest(
  a: { port: number; host?: string },
  o: { method: string; callId: string; from: string; to: string; dialog: DialogInfo; routes?: string[]; cseq?: number; sdp?: string },
): string {
  const body = o.sdp ?? '';
  const routes = o.routes ?? o.dialog.routeSet;
  const branch = 'z9hG4bK' + randomBytes(8).toString('hex');
  return [
    `${o.method} ${o.dialog.remoteTarget} SIP/2.0`,
    `Via: SIP/2.0/UDP ${a.host ?? '127.0.0.2'}:${a.port};branch=${branch};rport`,
    'Max-Forwards: 70',
    ...routes.map((r) => `Route: ${r}`),
    `From: <sip:${o.from}>;tag=${o.dialog.localTag}`,
    `To: <sip:${o.to}>;tag=${o.dialog.remoteTag}`,
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq ?? 77} ${o.method}`,
    ...(body ? [`Contact: <sip:${o.from.split('@')[0]}@${a.host ?? '127.0.0.2'}:${a.port}>`, 'Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}
