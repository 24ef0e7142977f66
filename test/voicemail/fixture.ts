import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { join } from 'node:path';
import type { Deposit, DepositRights } from '../../src/contracts/licence.js';
import { LicenceClient } from '../../src/contracts/licence-client.js';
import { startLicenceServer, type RunningLicence } from '../../src/auc/licence/run.js';
import { createLogger } from '../../src/log/logger.js';
import { newMessageId, sealPackage } from '../../src/contracts/voicemail-package.js';
import type { Store } from '../../src/store/index.js';
import { ulawTone } from './g711.js';

export const BOB = { idc: 'bob@lab.example', password: 'bob-sip-secret' };
export const CAROL = { idc: 'carol@lab.example', password: 'carol-sip-secret' };
export const DAVE = { idc: 'dave@lab.example', password: 'dave-voicemail-pw' };
export const ALICE = { idc: 'alice@lab.example', password: 'alice-sip-secret' };

export const basic = (u: { idc: string; password: string }) => `Basic ${Buffer.from(`${u.idc}:${u.password}`).toString('base64')}`;

/**
 * A licence server on a store with four subscribers: bob, carol and alice
 * with SIP passwords, dave with a KS1 key only and a voicemail password.
 */
export async function licenceFixture(store: Store, dataDir: string, log?: NodeJS.WritableStream): Promise<{ running: RunningLicence; client: LicenceClient; certPem: string; mediaKey: string }> {
  await store.terminals.create(BOB.idc, randomBytes(32), BOB.password);
  await store.terminals.create(CAROL.idc, randomBytes(32), CAROL.password);
  await store.terminals.create(ALICE.idc, randomBytes(32), ALICE.password);
  await store.terminals.create(DAVE.idc, randomBytes(32));
  await store.voicemail.setPassword(DAVE.idc, DAVE.password);
  const running = await startLicenceServer(
    store,
    { host: '127.0.0.1', port: 0, certFile: '', keyFile: '', mediaKey: '', maxPackageBytes: 1 << 20 },
    { dataDir, logger: log ? createLogger('trace', log) : createLogger(process.env.KS_TEST_LOG ?? 'silent'), sessionIdleSeconds: 600, sessionMaxSeconds: 3600 },
  );
  const certPem = readFileSync(running.certFile, 'utf8');
  const mediaKey = readFileSync(join(dataDir, 'media-link.key'), 'utf8').trim();
  return { running, certPem, mediaKey, client: new LicenceClient({ url: running.url, certPem, mediaKey }) };
}

/** A message from alice to `owner`: a known tone, sealed by the media server's package code, and its deposit. */
export function toneDeposit(owner: string, rights: Partial<DepositRights> = {}, ms = 1000, hz = 440) {
  const tone = ulawTone(ms, hz);
  const messageId = newMessageId();
  const recordedAt = Date.now();
  const fullRights = { maxPlays: 3, expiresDays: 0, mayForward: true, mayModify: false, ...rights };
  const { pkg, contentKey } = sealPackage(tone.ulaw, {
    messageId,
    codec: 'PCMU',
    to: owner,
    from: '"Alice" <sip:alice@lab.example>',
    createdAt: new Date(recordedAt).toISOString(),
    rights: { mayForward: fullRights.mayForward, maxPlays: fullRights.maxPlays, expiresDays: fullRights.expiresDays },
  });
  const deposit: Deposit = {
    messageId,
    keyId: pkg.header.keyId,
    contentKey: contentKey.toString('base64url'),
    owner,
    sender: ALICE.idc,
    senderDisplay: 'Alice',
    recordedAt,
    durationMs: pkg.header.durationMs,
    codec: 'PCMU',
    rights: fullRights,
    package: pkg.bytes.toString('base64'),
  };
  return { deposit, pkg: pkg.bytes, contentKey, tone };
}

export type Answer = { status: number; body: Record<string, unknown>; raw: Buffer; headers: IncomingHttpHeaders };

/**
 * One HTTPS request to the licence listener, trusting its certificate only;
 * `from` binds the client to another loopback address (an attacker's source).
 * A JSON body is sent for an object, a string as it is (give its content-type).
 */
export function httpsCall(to: { port: number; ca: string }, method: string, path: string, headers: Record<string, string> = {}, body?: unknown, from?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const type = data && typeof body !== 'string' ? { 'content-type': 'application/json' } : {};
    const req = request({ method, host: '127.0.0.1', port: to.port, path, ca: to.ca, localAddress: from, agent: false, headers: { ...headers, ...type } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        let b: Record<string, unknown> = {};
        try {
          b = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
        } catch {
          /* binary or HTML */
        }
        resolve({ status: res.statusCode ?? 0, body: b, raw, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}
