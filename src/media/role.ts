/**
 * The media server role (`keyswitch media`, and a role of `keyswitch up`):
 * composition root of the voicemail's SIP user agent, its package store,
 * its deposits at the licence server and its notifications
 * (docs/voicemail.md).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/load.js';
import { configuredOrStoredSecret, coreLinkKey } from '../config/secrets.js';
import { LICENCE_CERT_FILE, MEDIA_LINK_KEY_FILE, type Deposit, type DepositAnswer } from '../contracts/licence.js';
import { LicenceClient } from '../contracts/licence-client.js';
import type { RunningRole } from '../contracts/role.js';
import type { Logger } from '../log/logger.js';
import { listenAddress, startListener, type Health } from '../metrics/health.js';
import type { MetricsRegistry } from '../metrics/registry.js';
import { createSipStack, createUdpTransport } from '../sip/index.js';
import { openStoreFromConfig, type Store } from '../store/index.js';
import { Mailbox, type LicenceDepositor } from './mailbox.js';
import { Notifier } from './notify.js';
import { PackageStore } from './package-store.js';
import { MediaServer } from './server.js';
import { NameStore } from './names.js';

/** Where the licence server listens, as this configuration names it. */
export function licenceAddress(cfg: Config): { host: string; port: number } | undefined {
  return cfg.media.licence ?? (cfg.auc.licence.host && cfg.auc.licence.port ? { host: cfg.auc.licence.host, port: cfg.auc.licence.port } : undefined);
}

/**
 * The licence server's client, made at first use: under `keyswitch up` the
 * AuC writes its certificate when it starts, and the media server may be up
 * before that has happened.
 */
function lazyLicence(cfg: Config, at: { host: string; port: number } | undefined): LicenceDepositor {
  let client: LicenceClient | undefined;
  return {
    deposit(d: Deposit): Promise<DepositAnswer> {
      if (!at) return Promise.reject(new Error('no licence server configured (media.licence, auc.licence.host/port)'));
      if (!client) {
        const certFile = cfg.media.licenceCert || cfg.auc.licence.certFile || join(cfg.dataDir, LICENCE_CERT_FILE);
        if (!existsSync(certFile)) return Promise.reject(new Error(`the licence server's certificate ${certFile} is not there yet`));
        const mediaKey = configuredOrStoredSecret(cfg.dataDir, MEDIA_LINK_KEY_FILE, cfg.auc.licence.mediaKey, () => randomBytes(32).toString('hex'));
        const host = at.host.includes(':') ? `[${at.host}]` : at.host;
        client = new LicenceClient({ url: `https://${host}:${at.port}`, certPem: readFileSync(certFile, 'utf8'), mediaKey, ...(at.host === '0.0.0.0' ? { servername: 'localhost' } : {}) });
      }
      return client.deposit(d);
    },
  };
}

export async function startMediaRole(cfg: Config, logger: Logger, shared?: { store?: Store; health?: Health; metrics?: MetricsRegistry }): Promise<RunningRole> {
  const log = logger.child({ role: 'media' });
  const store = shared?.store ?? (await openStoreFromConfig(cfg));
  const m = cfg.media;
  const host = m.sip.host;
  const packages = new PackageStore(m.storeDir || join(cfg.dataDir, 'media'));
  const linkKey = coreLinkKey(cfg.dataDir, cfg.coreLink.key);
  const udp = await startListener('media server SIP UDP', listenAddress(host, m.sip.port, 'udp'), () => createUdpTransport({ host, port: m.sip.port }));
  const served = shared?.health?.listener('media server SIP UDP', listenAddress(host, udp.port, 'udp'));
  const notifier = new Notifier({ bindings: (aor) => store.bindings.current(aor), host, port: udp.port, linkKey, webhook: m.webhook, webLink: m.webLink, logger: log });
  const licence = licenceAddress(cfg);
  const mailbox = new Mailbox({ store: packages, licence: lazyLicence(cfg, licence), notify: (n) => notifier.notify(n), logger: log });
  const server = new MediaServer({
    host,
    port: udp.port,
    linkKey,
    store: packages,
    limits: {
      maxRecordMs: m.maxRecordSeconds * 1000,
      silenceMs: m.silenceSeconds * 1000,
      rtpTimeoutMs: m.rtpTimeoutSeconds * 1000,
      menuTimeoutMs: m.menuTimeoutSeconds * 1000,
      maxDtmfPerSecond: m.maxDtmfPerSecond,
      silenceLevel: 200,
    },
    defaults: { maxPlays: m.rights.maxPlays, expiresDays: m.rights.expiresDays, mayForward: m.rights.forward === 'on' },
    maxCalls: m.maxCalls,
    licence,
    names: new NameStore(packages.dir, linkKey),
    onRecording: (r) => void mailbox.keep(r),
    logger: log,
  });
  const stack = createSipStack({
    transports: [udp],
    onRequest: server.onRequest,
    warningAgent: host,
    onHandlerError: (err, req) => log.error({ err: (err as Error)?.message, method: req.method }, 'media request handler failed (answered 500)'),
  });
  server.attach(stack);
  notifier.attach(stack);
  const registry = shared?.metrics;
  if (registry) {
    const g = registry.gauge('keyswitch_media_calls', 'Calls the media server holds now.');
    g.onCollect((x) => x.set(server.activeCalls));
    const c = registry.gauge('keyswitch_media_events', 'Media server counters by event (deposits, retrievals, refusals, messages stored and deposited).', { labelNames: ['event'] });
    c.onCollect((x) => {
      for (const [k, v] of Object.entries({ ...server.st, ...mailbox.st, ...notifier.st })) x.set(v, { event: k });
    });
  }
  log.info({ host, port: udp.port, licence, store: packages.dir }, 'media server SIP listening');
  return {
    listening: [{ name: 'media server SIP (voicemail)', address: `${host} udp ${udp.port}` }],
    async stop() {
      served?.down('stopped');
      server.close();
      await stack.close();
      if (!shared?.store) await store.close();
    },
  };
}
