import { request } from 'node:https';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import type { Deposit, DepositAnswer, Licence, LicenceRefusal } from './licence.js';
import { LICENCE_PATHS } from './licence.js';

/**
 * The media server's side of the licence contract (src/contracts/licence.ts):
 * deposit over HTTPS to the licence server, trusting only its certificate
 * (pinned as the CA) and sending the service key only to it.
 */
export interface LicenceClientOptions {
  /** `https://host:port` of the licence listener. */
  url: string;
  /** The licence server's certificate (PEM): the only one trusted. */
  certPem: string;
  /** The service key (64 hex digits). */
  mediaKey: string;
  /** Bound on one request (default 10 s). */
  timeoutMs?: number;
  /** The name the certificate must carry, when the URL's host is not in it (default: the URL's host). */
  servername?: string;
}

/** A refusal by the licence server, with its code; a transport failure is a plain Error. */
export class LicenceRequestError extends Error {
  constructor(readonly statusCode: number, readonly code: string, message: string) {
    super(message);
  }
}

export class LicenceClient {
  constructor(private readonly o: LicenceClientOptions) {
    if (!/^[0-9a-fA-F]{64}$/.test(o.mediaKey)) throw new Error('the media service key must be 64 hexadecimal digits');
    const u = new URL(o.url);
    if (u.protocol !== 'https:') throw new Error(`licence server URL ${o.url} must be https`);
  }

  /** Deposits a stored message's key, rights and package. Resolves when the licence server holds it. */
  async deposit(d: Deposit): Promise<DepositAnswer> {
    return (await this.#call('POST', LICENCE_PATHS.deposit, { authorization: `Bearer ${this.o.mediaKey}` }, d)) as DepositAnswer;
  }

  /** A player's licence request (one play), as a subscriber with its voicemail or SIP password. */
  async licence(messageId: string, idc: string, password: string): Promise<Licence> {
    return (await this.#call('POST', LICENCE_PATHS.licence(messageId), basic(idc, password), {})) as Licence;
  }

  #call(method: string, path: string, headers: Record<string, string>, body: unknown): Promise<unknown> {
    const u = new URL(path, this.o.url);
    const data = Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        {
          method,
          host: u.hostname.replace(/^\[|\]$/g, ''),
          port: u.port || 443,
          path: u.pathname,
          ca: this.o.certPem,
          ...(this.o.servername ? { checkServerIdentity: tlsIdentity(this.o.servername) } : {}),
          headers: { ...headers, 'content-type': 'application/json', 'content-length': String(data.length) },
          timeout: this.o.timeoutMs ?? 10_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > 1 << 20) req.destroy(new Error('licence server answer too large'));
            else chunks.push(c);
          });
          res.on('end', () => {
            let parsed: unknown;
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              return reject(new Error(`licence server answered ${res.statusCode} without JSON`));
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve(parsed);
            const r = parsed as Partial<LicenceRefusal>;
            reject(new LicenceRequestError(status, String(r.code ?? 'error'), String(r.message ?? `HTTP ${status}`)));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`licence server ${this.o.url} did not answer in time`)));
      req.on('error', reject);
      req.end(data);
    });
  }
}

function basic(idc: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${idc}:${password}`, 'utf8').toString('base64')}` };
}

function tlsIdentity(name: string) {
  return (_host: string, cert: PeerCertificate) => checkServerIdentity(name, cert);
}
