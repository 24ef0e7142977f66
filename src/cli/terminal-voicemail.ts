/**
 * `keyswitch terminal voicemail`: retrieve one voicemail message over SIP
 * (KS1 through the SBC, the a=drm offer/answer, the licence over HTTPS),
 * write it as a WAV file and print one JSON line (never the key).
 * Commander-agnostic: main.ts maps its flags onto these options.
 * Exit codes: 0 ok, 2 refused or authentication failed, 1 anything else (a timeout too).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isMessageId } from '../contracts/voicemail-package.js';
import { retrieveMessage, wav } from '../terminal/voicemail.js';
import { DEFAULT_MECHS, deadlineOf, parseHostPort, parseKey } from './terminal.js';
import { SIP_PORT } from '../sip/proxy/ports.js';

export interface TerminalVoicemailOptions {
  id: string;
  key: string;
  password: string;
  sbc: string;
  /** The message id (32 hex digits). */
  message: string;
  /** The WAV file to write. */
  outFile: string;
  /** PEM of the licence server's certificate, the only one trusted. */
  licenceCertFile: string;
  mechs?: string;
  transport?: string;
  idsp?: string;
  caFile?: string;
  timeout?: number | string;
  out?: (line: string) => void;
  err?: (line: string) => void;
}

class UsageError extends Error {}

export async function runTerminalVoicemail(o: TerminalVoicemailOptions): Promise<number> {
  const out = o.out ?? ((l: string) => void process.stdout.write(l + '\n'));
  const err = o.err ?? ((l: string) => void process.stderr.write(l + '\n'));
  let certPem: string;
  let args;
  try {
    if (!o.id || !/^[^@\s]+@[^@\s]+$/.test(o.id)) throw new UsageError('--id must be user@domain');
    if (!o.key) throw new UsageError('give --key, --key-file or --key -');
    if (!o.password) throw new UsageError('give --password, --password-file or --password -');
    const messageId = (o.message ?? '').toLowerCase();
    if (!isMessageId(messageId)) throw new UsageError('--message must be a message id (32 hexadecimal digits)');
    if (!o.outFile) throw new UsageError('give --out <file.wav>');
    const transport = (o.transport ?? 'udp').toLowerCase();
    if (transport !== 'udp' && transport !== 'tcp') throw new UsageError('--transport must be udp or tcp');
    try {
      certPem = readFileSync(o.licenceCertFile, 'utf8');
    } catch (e) {
      throw new UsageError(`--licence-cert: cannot read ${o.licenceCertFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const ca = o.caFile ? readFileSync(o.caFile, 'utf8') : undefined;
    args = {
      idc: o.id, kc: parseKey(o.key), sbc: parseHostPort(o.sbc, SIP_PORT), transport: transport as 'udp' | 'tcp',
      mechs: o.mechs ?? DEFAULT_MECHS, ...(o.idsp ? { idsp: o.idsp } : {}), tls: ca ? { ca, ...(o.idsp ? { servername: o.idsp } : {}) } : {},
      messageId, password: o.password, licenceCertPem: certPem, deadlineMs: deadlineOf(o.timeout),
    };
  } catch (e) {
    err(`error: ${(e as Error).message ?? String(e)}`);
    return 1;
  }
  const r = await retrieveMessage(args);
  if (!r.ok) {
    out(JSON.stringify({ ...r.event, messageId: args.messageId, t: new Date().toISOString() }));
    return r.exit;
  }
  const m = r.message;
  try {
    // written whole, then renamed: no half file under the name asked for
    const tmp = `${o.outFile}.part`;
    writeFileSync(tmp, wav(m.pcm), { mode: 0o600 });
    renameSync(tmp, o.outFile);
  } catch (e) {
    err(`error: cannot write ${o.outFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    return 1;
  } finally {
    m.pcm.fill(0);
  }
  out(JSON.stringify({ event: 'message', messageId: m.messageId, caller: m.caller, seconds: m.seconds, playsLeft: m.playsLeft, out: o.outFile, t: new Date().toISOString() }));
  return 0;
}
