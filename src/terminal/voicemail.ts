/**
 * Retrieval of a voicemail message over SIP by the command-line terminal
 * (docs/voicemail.md, "Retrieval over SIP and the DRM attribute"): registers
 * with KS1 through the SBC, INVITEs `sip:<user>.<messageId>@<domain>` with
 * `a=drm:ksdrm 0 0 HTTP/TLS`, fetches the licence from the address the
 * answer's `a=drm` names (HTTPS, the licence server's certificate pinned),
 * ACKs, collects the streamed package from the answer's RTP address, opens it
 * with the content key and gives back the 16-bit PCM. The content key stays
 * in this function: it is not returned, printed or written anywhere.
 */
import { signSipMessage } from '../adapters/sip/sbc-app-hmac.js';
import { LicenceClient, LicenceRequestError } from '../contracts/licence-client.js';
import { openPackage, PackageError } from '../contracts/voicemail-package.js';
import { decodeG711 } from '../rtp/index.js';
import { parseDrm } from '../sdp/index.js';
import { createAckFor2xx, formatUri, isStar, type SipRequest } from '../sip/index.js';
import { callerRequests, checked, failed, inDialog, register, type ByeWaiters, type CallEvent, type Dialog } from './call.js';
import { noAnswerFrom, withDeadline } from './deadline.js';
import { answeredMedia, drmValues, mediaOffer, RtpEndpoint } from './rtp-media.js';
import { SipTerminal, SipTerminalError, type SipTerminalOptions } from './sip-terminal.js';
import { newCallId, newTag } from './sip-uac.js';

export interface RetrieveOptions extends Omit<SipTerminalOptions, 'onRequest'> {
  messageId: string;
  /** The subscriber's voicemail (or SIP) password, for the licence server. */
  password: string;
  /** The licence server's certificate (PEM), the only one trusted. */
  licenceCertPem: string;
  /** Each exchange (registration, INVITE, licence) and the stream's silence are bounded by this (default 10 s). */
  deadlineMs?: number;
}

export interface Retrieved {
  messageId: string;
  caller: string;
  seconds: number;
  playsLeft: number | null;
  pcm: Int16Array;
}

export type RetrieveResult =
  | { ok: true; message: Retrieved }
  | { ok: false; exit: 1 | 2; event: Extract<CallEvent, { event: 'failed' }> };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function userOf(aor: string): { user: string; domain: string } {
  const at = aor.lastIndexOf('@');
  return at < 0 ? { user: aor, domain: '' } : { user: aor.slice(0, at), domain: aor.slice(at + 1) };
}

/** A refusal (exit 2) or another failure (exit 1), as the `failed` event the CLI prints. */
function fail(error: string, refused: boolean, status?: number): RetrieveResult {
  return { ok: false, exit: refused ? 2 : 1, event: { event: 'failed', error, ...(status !== undefined ? { status } : {}), authFailed: refused } };
}

export async function retrieveMessage(o: RetrieveOptions): Promise<RetrieveResult> {
  const deadlineMs = o.deadlineMs ?? 10_000;
  const waiters: ByeWaiters = new Map();
  const events: CallEvent[] = [];
  let term: SipTerminal | undefined;
  term = new SipTerminal({ ...o, onRequest: callerRequests(() => term!, waiters, (e) => events.push(e)) });
  let rtp: RtpEndpoint | undefined;
  try {
    try {
      await register(term, () => undefined, o.idc, deadlineMs);
    } catch (e) {
      const ev = failed(e);
      return ev.event === 'failed' ? { ok: false, exit: ev.authFailed ? 2 : 1, event: ev } : fail('registration failed', false);
    }
    const uac = term.securedUac;
    const host = uac.transport.host || '127.0.0.1';
    rtp = await RtpEndpoint.open(host);
    const { user, domain } = userOf(o.idc);
    const target = `${user}.${o.messageId}@${domain}`;
    const callId = newCallId();
    const localTag = newTag();
    const invite = uac.build({
      method: 'INVITE',
      requestUri: `sip:${target}`,
      aor: o.idc,
      to: `<sip:${target}>`,
      callId,
      cseq: 1,
      fromTag: localTag,
      headers: [['Contact', term.contact(uac)], ['Content-Type', 'application/sdp']],
      body: mediaOffer(user, host, rtp.port, ['a=drm:ksdrm 0 0 HTTP/TLS', 'a=recvonly']),
    });
    if (term.signer) signSipMessage(invite, term.signer);
    const res = checked(term, await withDeadline(deadlineMs, `${noAnswerFrom(term.o.sbc)} to the INVITE`, uac.sendBuilt(invite)), 'INVITE');
    if (res.status < 200 || res.status >= 300) {
      const warning = res.get('Warning');
      // 401/403: not authenticated or not allowed; 404: not this subscriber's message (the media server does not say which)
      return fail(`retrieval refused: ${res.status} ${res.reason}${warning ? ` (${warning})` : ''}`, [401, 403, 404, 407].includes(res.status), res.status);
    }
    const contact = res.contacts()[0];
    const d: Dialog = {
      callId, localTag, remoteTag: String(res.to().params.tag ?? ''), localUri: o.idc, remoteUri: target,
      remoteTarget: contact && !isStar(contact) ? formatUri(contact.uri) : `sip:${target}`,
      routes: res.list('Record-Route').reverse(), cseq: 1, startedAt: Date.now(),
    };
    const sendAck = async (): Promise<void> => {
      const ack = createAckFor2xx(invite, res);
      ack.prepend('Via', uac.via());
      if (term!.signer) signSipMessage(ack, term!.signer);
      await uac.sendAck(ack);
    };
    const hangUp = async (): Promise<void> => {
      await sendAck();
      await withDeadline(deadlineMs, `${noAnswerFrom(term!.o.sbc)} to the BYE`, uac.sendBuilt(inDialog(term!, d, 'BYE'))).catch(() => undefined);
    };
    const media = answeredMedia(res.body);
    if (typeof media === 'string') {
      await hangUp();
      return fail(media, false);
    }
    const drm = drmValues(media).map(parseDrm).find((x) => x?.type === 'ksdrm' && x.transport.toUpperCase() === 'HTTP/TLS' && x.port > 0);
    if (!drm) {
      await hangUp();
      return fail('the answer names no ksdrm licence server (a=drm)', false);
    }
    const licenceHost = drm.address.includes(':') ? `[${drm.address}]` : drm.address;
    // the player's requests carry no service key; the client's constructor wants one, and sends it only on deposits
    const client = new LicenceClient({ url: `https://${licenceHost}:${drm.port}`, certPem: o.licenceCertPem, mediaKey: '0'.repeat(64), timeoutMs: deadlineMs });
    let licence;
    try {
      licence = await client.licence(o.messageId, o.idc, o.password);
    } catch (e) {
      await hangUp();
      if (e instanceof LicenceRequestError) return fail(`licence refused: ${e.statusCode} ${e.code}`, e.statusCode === 401 || e.statusCode === 403 || e.statusCode === 404 || e.statusCode === 429, e.statusCode);
      return fail(`licence server: ${(e as Error).message}`, false);
    }
    const ended = new Promise<SipRequest>((r) => waiters.set(callId, r));
    await sendAck();
    // the media server streams the package, then hangs up; no RTP for the deadline is a failure
    let bye = false;
    void ended.then(() => (bye = true));
    const ackedAt = Date.now();
    while (!bye && Date.now() - Math.max(ackedAt, rtp.lastAt) < deadlineMs) await sleep(100);
    const stream = bye;
    waiters.delete(callId);
    await sleep(100); // the last datagrams may trail the BYE through the proxies
    const payloads = rtp.payloadsFrom(media.address, media.port, media.payloadType);
    if (!stream) {
      await withDeadline(deadlineMs, 'BYE', uac.sendBuilt(inDialog(term, d, 'BYE'))).catch(() => undefined);
      return fail('timeout: the media server did not end the stream', false);
    }
    const key = Buffer.from(licence.contentKey, 'base64url');
    try {
      const { header, audio } = openPackage(Buffer.concat(payloads), key);
      const pcm = decodeG711(header.codec, audio);
      audio.fill(0);
      return { ok: true, message: { messageId: header.messageId, caller: header.from, seconds: Math.round(header.durationMs / 100) / 10, playsLeft: licence.rights.playsLeft ?? null, pcm } };
    } catch (e) {
      return fail(`the streamed package does not open (${e instanceof PackageError ? e.message : 'decryption failed'}; ${payloads.length} packets)`, false);
    } finally {
      key.fill(0);
    }
  } catch (e) {
    const ev = failed(e instanceof Error ? e : new SipTerminalError(String(e), false));
    return ev.event === 'failed' ? { ok: false, exit: ev.authFailed ? 2 : 1, event: ev } : fail(String(e), false);
  } finally {
    rtp?.close();
    await term.close().catch(() => undefined);
  }
}

/** 16-bit PCM, mono, 8 kHz, as a RIFF/WAVE file. */
export function wav(pcm: Int16Array, rate = 8000): Buffer {
  const data = pcm.length * 2;
  const b = Buffer.alloc(44 + data);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + data, 4);
  b.write('WAVE', 8, 'ascii');
  b.write('fmt ', 12, 'ascii');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(data, 40);
  for (let i = 0; i < pcm.length; i++) b.writeInt16LE(pcm[i]!, 44 + i * 2);
  return b;
}
