/**
 * Telling the mailbox owner (docs/voicemail.md, "Notification"): an
 * unsolicited MWI NOTIFY (RFC 3842 `message-summary`) and a SIP MESSAGE with
 * the retrieval address to each terminal it has registered, and optionally a
 * webhook with a link — never audio, never a key.
 *
 * Terminals are reached as the softswitch reaches them: one registered
 * through an SBC via that SBC (the request signed for the core link, as the
 * softswitch signs), one registered here over UDP at the address its
 * REGISTER came from (NAT-safe), its contact as Request-URI.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { Logger } from '../log/logger.js';
import { createRequest, formatHost, randomToken, type SipRequest, type SipStack } from '../sip/index.js';
import type { SipBinding } from '../store/bindings.js';
import { signCoreLink } from '../adapters/sip/core-link.js';

export interface MessageNotice {
  owner: string;
  messageId: string;
  senderDisplay: string;
  recordedAt: number;
  durationMs: number;
  /** Messages in the mailbox now, this one included. */
  waiting: number;
}

export interface NotifierOptions {
  /** The owner's registered terminals now (the registrar's store). */
  bindings: (aor: string) => Promise<SipBinding[]>;
  /** Address and port the retrieval address names (the media server's SIP listener). */
  host: string;
  port: number;
  /** Core-link key: requests to an SBC are signed as the softswitch signs them. */
  linkKey: Buffer | undefined;
  /** POSTed a JSON notice with a link; empty: none. */
  webhook: string;
  /** The link the webhook and the MESSAGE carry besides the SIP address (the web page); `{id}` is replaced by the message id. */
  webLink: string;
  logger?: Logger;
}

export interface NotifierStats {
  notifySent: number;
  messageSent: number;
  webhookSent: number;
  webhookFailed: number;
}

export class Notifier {
  #stack: SipStack | undefined;
  readonly st: NotifierStats = { notifySent: 0, messageSent: 0, webhookSent: 0, webhookFailed: 0 };

  constructor(private readonly o: NotifierOptions) {}

  attach(stack: SipStack): void {
    this.#stack = stack;
  }

  /** `sip:<user>.<messageId>@<media server>`: where a phone calls to hear the message. */
  retrievalAddress(owner: string, messageId: string): string {
    const user = owner.slice(0, owner.lastIndexOf('@'));
    return `sip:${user}.${messageId}@${formatHost(this.o.host)}:${this.o.port}`;
  }

  async notify(n: MessageNotice): Promise<void> {
    const stack = this.#stack;
    const address = this.retrievalAddress(n.owner, n.messageId);
    const link = this.o.webLink ? this.o.webLink.replace('{id}', n.messageId) : '';
    let bindings: SipBinding[] = [];
    try {
      bindings = await this.o.bindings(n.owner);
    } catch (err) {
      this.o.logger?.warn({ owner: n.owner, err: (err as Error).message }, 'media: cannot read the registrations to notify');
    }
    const from = `<sip:voicemail@${formatHost(this.o.host)}:${this.o.port}>;tag=${randomToken()}`;
    const to = `<sip:${n.owner}>`;
    for (const b of bindings) {
      const hop = hopOf(b);
      if (!stack || !hop) continue;
      const summary = `Messages-Waiting: yes\r\nMessage-Account: sip:${n.owner}\r\nVoice-Message: ${n.waiting}/0 (0/0)\r\n`;
      const notify = createRequest('NOTIFY', b.contact, [
        ['From', from], ['To', to], ['Call-ID', randomToken(12)], ['CSeq', '1 NOTIFY'], ['Max-Forwards', '70'],
        ['Contact', `<sip:voicemail@${formatHost(this.o.host)}:${this.o.port}>`],
        ['Event', 'message-summary'], ['Subscription-State', 'terminated;reason=noresource'],
        ['Content-Type', 'application/simple-message-summary'],
      ], Buffer.from(summary));
      const text = `New voicemail from ${n.senderDisplay.replace(/[\r\n]/g, ' ') || 'an outside caller'} (${Math.round(n.durationMs / 1000)} s). Call ${address} to hear it${link ? `, or open ${link}` : ''}.`;
      const message = createRequest('MESSAGE', b.contact, [
        ['From', from], ['To', to], ['Call-ID', randomToken(12)], ['CSeq', '1 MESSAGE'], ['Max-Forwards', '70'],
        ['Content-Type', 'text/plain;charset=utf-8'],
      ], Buffer.from(text, 'utf8'));
      for (const req of [notify, message]) {
        if (hop.viaSbc && this.o.linkKey) signCoreLink(req, this.o.linkKey);
        if (req.method === 'NOTIFY') this.st.notifySent++;
        else this.st.messageSent++;
        this.#send(stack, req, hop);
      }
    }
    if (this.o.webhook) await this.#webhook(n, address, link);
  }

  #send(stack: SipStack, req: SipRequest, hop: { address: string; port: number; protocol: 'udp' | 'tcp' | 'tls' }): void {
    stack.send(req, { destination: { address: hop.address, port: hop.port, protocol: hop.protocol } }).then(
      (res) => res.status >= 300 && this.o.logger?.info({ method: req.method, status: res.status }, 'media: notification refused by the terminal'),
      () => undefined,
    );
  }

  #webhook(n: MessageNotice, address: string, link: string): Promise<void> {
    const body = Buffer.from(JSON.stringify({ event: 'voicemail.deposited', owner: n.owner, messageId: n.messageId, from: n.senderDisplay, recordedAt: n.recordedAt, durationMs: n.durationMs, sip: address, ...(link ? { link } : {}) }));
    let u: URL;
    try {
      u = new URL(this.o.webhook);
    } catch {
      this.st.webhookFailed++;
      return Promise.resolve();
    }
    const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<void>((resolve) => {
      const req = request(u, { method: 'POST', timeout: 5000, headers: { 'content-type': 'application/json', 'content-length': String(body.length) } }, (res) => {
        res.resume();
        res.on('end', () => {
          if ((res.statusCode ?? 0) < 300) this.st.webhookSent++;
          else this.st.webhookFailed++;
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => {
        this.st.webhookFailed++;
        this.o.logger?.warn({ err: err.message }, 'media: webhook failed');
        resolve();
      });
      req.end(body);
    });
  }
}

/** Where a binding is reached: its SBC, or the address its UDP REGISTER came from. */
function hopOf(b: SipBinding): { address: string; port: number; protocol: 'udp' | 'tcp' | 'tls'; viaSbc: boolean } | undefined {
  const m = /^(udp|tcp|tls):\[?([^\]]+?)\]?:([0-9]{1,5})$/.exec(b.source);
  if (!m || !isIP(m[2]!)) return undefined;
  const protocol = m[1] as 'udp' | 'tcp' | 'tls';
  // A terminal registered here over TCP/TLS is reached only on its own connection, which the softswitch holds.
  if (!b.idsp && protocol !== 'udp') return undefined;
  return { address: m[2]!, port: Number(m[3]), protocol, viaSbc: Boolean(b.idsp) };
}
