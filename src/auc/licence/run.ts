import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { LICENCE_CERT_FILE, LICENCE_KEY_FILE, MEDIA_LINK_KEY_FILE } from '../../contracts/licence.js';
import { configuredOrStoredSecret } from '../../config/secrets.js';
import type { Logger } from '../../log/logger.js';
import { listenAddress, startListener } from '../../metrics/health.js';
import { loadOrCreateCertificate } from '../../crypto/certificate.js';
import type { Store } from '../../store/index.js';
import { buildLicenceServer } from './server.js';
import { LicenceService } from './service.js';

/** The licence server's settings (auc.licence.* in the configuration). */
export interface LicenceSettings {
  host: string;
  port: number;
  certFile: string;
  keyFile: string;
  mediaKey: string;
  maxPackageBytes: number;
}

export interface RunningLicence {
  app: FastifyInstance;
  service: LicenceService;
  port: number;
  /** `https://host:port` */
  url: string;
  certFile: string;
  fingerprint256: string;
}

/** The media service key: configured, or `media-link.key` in the data directory (64 hex, made on first start). */
export function mediaLinkKey(dataDir: string, configured: string): string {
  const key = configuredOrStoredSecret(dataDir, MEDIA_LINK_KEY_FILE, configured, () => randomBytes(32).toString('hex'));
  if (!/^[0-9a-fA-F]{64}$/.test(key)) throw new Error(`auc.licence.mediaKey (or ${MEDIA_LINK_KEY_FILE}) must be 64 hexadecimal digits`);
  return key;
}

/** Starts the licence server's HTTPS listener on the AuC's store (docs/voicemail.md). */
export async function startLicenceServer(
  store: Store,
  s: LicenceSettings,
  o: { dataDir: string; logger: Logger; sessionIdleSeconds: number; sessionMaxSeconds: number },
): Promise<RunningLicence> {
  const cert = loadOrCreateCertificate({
    dataDir: o.dataDir,
    ...(s.certFile ? { certFile: s.certFile } : {}),
    ...(s.keyFile ? { keyFile: s.keyFile } : {}),
    fileNames: { cert: LICENCE_CERT_FILE, key: LICENCE_KEY_FILE },
    commonName: isIP(s.host) || s.host === '0.0.0.0' || s.host === '::' ? 'localhost' : s.host,
    altNames: ['localhost', '127.0.0.1', '::1', ...(isIP(s.host) && s.host !== '0.0.0.0' && s.host !== '::' ? [s.host] : [])],
  });
  const service = new LicenceService(store, { dataDir: o.dataDir, maxPackageBytes: s.maxPackageBytes });
  const app = await buildLicenceServer({
    store,
    logger: o.logger,
    service,
    mediaKey: mediaLinkKey(o.dataDir, s.mediaKey),
    tls: { cert: cert.cert, key: cert.key },
    // base64 of the largest package, and the deposit's other fields
    bodyLimit: Math.ceil((s.maxPackageBytes * 4) / 3) + 64 * 1024,
    web: { sessionIdleSeconds: o.sessionIdleSeconds, sessionMaxSeconds: o.sessionMaxSeconds },
  });
  try {
    await startListener('AuC licence server', listenAddress(s.host, s.port, 'https'), () => app.listen({ host: s.host, port: s.port }));
  } catch (err) {
    await app.close().catch(() => undefined);
    throw err;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : s.port;
  const h = s.host.includes(':') ? `[${s.host}]` : s.host;
  return { app, service, port, url: `https://${h}:${port}`, certFile: cert.certFile, fingerprint256: cert.fingerprint256 };
}
