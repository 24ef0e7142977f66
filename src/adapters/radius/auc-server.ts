/**
 * The AuC's RADIUS interface (docs/design.md "AuC interface"): Access-Request →
 * AucService.vector()/digest() → Access-Accept/Reject; Accounting-Request
 * Start/Stop/Failed → registered()/deregistered()/failed() →
 * Accounting-Response. Every answer carries a Message-Authenticator as its
 * first attribute; an Access-Request without a valid one is dropped
 * (Blast-RADIUS, CVE-2024-3596), as is anything not signed with our secret.
 */
import { randomBytes } from 'node:crypto';
import type { RemoteInfo } from 'node:dgram';
import { ReportRefusedError, type AucService, type DigestAlgorithm, type FailureOutcome, type Requester } from '../../contracts/auc.js';
import {
  DIGEST_ALGORITHMS,
  digestAcceptAttributes,
  failureOutcomeAttributes,
  rejectAttributes,
  vectorAcceptAttributes,
} from './auc-attributes.js';
import {
  decodePacket,
  encodePacket,
  proxyStates,
  stringAttr,
  vendorDate,
  vendorEnum,
  vendorOctets,
  vendorString,
  type Attribute,
  type DecodedPacket,
} from '../../radius/codec.js';
import { RadiusCode } from '../../radius/dictionary.js';
import { verifyAccessRequest, verifyAccountingRequest } from '../../radius/sign.js';
import { startRadiusUdpServer, type RadiusUdpServer, type UdpServerStats } from '../../radius/udp-server.js';

export interface RadiusAucServerOptions {
  host: string;
  authPort: number;
  acctPort: number;
  secret: string;
  service: AucService;
  /** Allowed source CIDRs; absent or empty: loopback only. */
  clients?: string[];
  duplicateTtlMs?: number;
  onError?: (err: unknown) => void;
}

export interface RadiusAucServerStats {
  auth: UdpServerStats;
  acct: UdpServerStats;
  droppedMalformed: number;
  droppedUnexpectedCode: number;
  droppedMissingMessageAuthenticator: number;
  droppedBadMessageAuthenticator: number;
  droppedBadAuthenticator: number;
  droppedMissingAttributes: number;
  /** Accounting on a challenge this client did not ask for, or a Digest failure with no HA1 handed to it. */
  droppedUnboundReport: number;
  accessAccepts: number;
  accessRejects: number;
  statusServer: number;
  accountingStart: number;
  accountingStop: number;
  accountingFailed: number;
  accountingOther: number;
  serviceErrors: number;
}

export interface RadiusAucServer {
  authPort: number;
  acctPort: number;
  stats(): RadiusAucServerStats;
  close(): Promise<void>;
}

export async function startRadiusAucServer(o: RadiusAucServerOptions): Promise<RadiusAucServer> {
  const secret = Buffer.from(o.secret, 'utf8');
  const { service } = o;
  const c = {
    droppedMalformed: 0,
    droppedUnexpectedCode: 0,
    droppedMissingMessageAuthenticator: 0,
    droppedBadMessageAuthenticator: 0,
    droppedBadAuthenticator: 0,
    droppedMissingAttributes: 0,
    droppedUnboundReport: 0,
    accessAccepts: 0,
    accessRejects: 0,
    statusServer: 0,
    accountingStart: 0,
    accountingStop: 0,
    accountingFailed: 0,
    accountingOther: 0,
    serviceErrors: 0,
  };

  const answer = (req: DecodedPacket, code: number, attributes: Attribute[]): Buffer =>
    encodePacket({
      code,
      identifier: req.view.identifier,
      secret,
      requestAuthenticator: req.view.authenticator,
      attributes,
      proxyState: proxyStates(req),
    });

  const reject = (req: DecodedPacket, attributes: Attribute[]): Buffer => {
    c.accessRejects++;
    return answer(req, RadiusCode.AccessReject, attributes);
  };

  /** Runs a service call; a throw means "no answer", so the client retries or fails over. */
  async function call<T>(fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      // Another client's challenge, or none: no answer, nothing recorded, nothing counted.
      if (err instanceof ReportRefusedError) {
        c.droppedUnboundReport++;
        return undefined;
      }
      c.serviceErrors++;
      o.onError?.(err);
      return undefined;
    }
  }

  /** A RADIUS client is known by its address (RFC 2865 §3): reports must come from the one that asked. */
  let lastAddress = '';
  let lastRequester: Requester = '';
  const requesterOf = (from: RemoteInfo): Requester => {
    // nearly every request comes from the one softswitch: its name is built once, not per request
    if (from.address !== lastAddress) {
      lastRequester = `radius:${from.address.startsWith('::ffff:') ? from.address.slice(7) : from.address}`;
      lastAddress = from.address;
    }
    return lastRequester;
  };

  async function onAuth(buf: Buffer, from: RemoteInfo): Promise<Buffer | undefined> {
    const d = decodePacket(buf);
    if (!d.ok) {
      c.droppedMalformed++;
      return undefined;
    }
    const req = d.packet;
    if (req.view.code !== RadiusCode.AccessRequest && req.view.code !== RadiusCode.StatusServer) {
      c.droppedUnexpectedCode++;
      return undefined;
    }
    const verdict = verifyAccessRequest(req.view, secret);
    if (verdict === 'missing-message-authenticator') {
      c.droppedMissingMessageAuthenticator++;
      return undefined;
    }
    if (verdict !== 'ok') {
      c.droppedBadMessageAuthenticator++;
      return undefined;
    }
    if (req.view.code === RadiusCode.StatusServer) {
      // RFC 5997: liveness answered with an Access-Accept.
      c.statusServer++;
      return answer(req, RadiusCode.AccessAccept, []);
    }
    const idc = stringAttr(req, 'User-Name');
    if (!idc) return reject(req, rejectAttributes(undefined, undefined, 'User-Name missing'));

    const digestUser = vendorString(req, 'Keyswitch-Digest-Username');
    if (digestUser !== undefined) {
      const realm = vendorString(req, 'Keyswitch-Digest-Realm');
      const algorithm = vendorEnum(req, 'Keyswitch-Digest-Algorithm');
      if (realm === undefined || !DIGEST_ALGORITHMS.includes(algorithm as DigestAlgorithm)) {
        return reject(req, rejectAttributes(undefined, undefined, 'Keyswitch-Digest-Realm or -Algorithm missing or unknown'));
      }
      const r = await call(() => service.digest({ idc, username: digestUser, realm, algorithm: algorithm as DigestAlgorithm }, requesterOf(from)));
      if (!r) return undefined;
      if (!r.ok) return reject(req, rejectAttributes(r.reason, r.retryAfterSeconds));
      c.accessAccepts++;
      return answer(req, RadiusCode.AccessAccept, digestAcceptAttributes(r.ha1, r.failuresPending));
    }

    const idsp = stringAttr(req, 'NAS-Identifier');
    if (!idsp) return reject(req, rejectAttributes(undefined, undefined, 'NAS-Identifier (IDsp) missing'));
    const r = await call(() => service.vector({ idc, idsp }, requesterOf(from)));
    if (!r) return undefined;
    if (!r.ok) return reject(req, rejectAttributes(r.reason, r.retryAfterSeconds));
    c.accessAccepts++;
    return answer(req, RadiusCode.AccessAccept, vectorAcceptAttributes(r.vector));
  }

  async function onAcct(buf: Buffer, from: RemoteInfo): Promise<Buffer | undefined> {
    const d = decodePacket(buf);
    if (!d.ok) {
      c.droppedMalformed++;
      return undefined;
    }
    const req = d.packet;
    if (req.view.code !== RadiusCode.AccountingRequest) {
      c.droppedUnexpectedCode++;
      return undefined;
    }
    const verdict = verifyAccountingRequest(req.view, secret);
    if (verdict === 'bad-authenticator') {
      c.droppedBadAuthenticator++;
      return undefined;
    }
    if (verdict !== 'ok') {
      c.droppedBadMessageAuthenticator++;
      return undefined;
    }
    const status = req.attributes['Acct-Status-Type'];
    const idc = stringAttr(req, 'User-Name');
    const idsp = stringAttr(req, 'NAS-Identifier');
    // RFC 2866 §2: a request that cannot be recorded gets no answer.
    const missing = (): undefined => {
      c.droppedMissingAttributes++;
      return undefined;
    };
    let extra: Attribute[] = [];
    if (status === 'Start') {
      const ipc = vendorString(req, 'Keyswitch-Terminal-Address');
      const protocol = vendorString(req, 'Keyswitch-Protocol');
      const contact = vendorString(req, 'Keyswitch-Contact');
      const expires = vendorDate(req, 'Keyswitch-Registration-Expires');
      if (!idc || !idsp || !ipc || !protocol || !contact || !expires) return missing();
      const rand = vendorOctets(req, 'Keyswitch-Rand');
      const report = {
        idc,
        idsp,
        ipc,
        protocol,
        contact,
        mechanism: vendorString(req, 'Keyswitch-Mechanism') ?? '',
        expiresAt: expires.getTime(),
        ...(rand ? { rand } : {}),
      };
      const ok = await call(async () => {
        await service.registered(report, requesterOf(from));
        return true;
      });
      if (!ok) return undefined;
      c.accountingStart++;
    } else if (status === 'Stop') {
      const protocol = vendorString(req, 'Keyswitch-Protocol');
      if (!idc || !idsp || !protocol) return missing();
      const contact = vendorString(req, 'Keyswitch-Contact');
      const ok = await call(async () => {
        await service.deregistered({ idc, idsp, protocol, ...(contact ? { contact } : {}) }, requesterOf(from));
        return true;
      });
      if (!ok) return undefined;
      c.accountingStop++;
    } else if (status === 'Failed') {
      if (!idc || !idsp) return missing();
      const rand = vendorOctets(req, 'Keyswitch-Rand');
      const outcome: FailureOutcome | undefined = await call(() => service.failed({ idc, idsp, ...(rand ? { rand } : {}) }, requesterOf(from)));
      if (!outcome) return undefined;
      c.accountingFailed++;
      extra = failureOutcomeAttributes(outcome);
    } else {
      // Interim-Update, Accounting-On/Off: nothing to record for a registrar, but acknowledged.
      c.accountingOther++;
    }
    return answer(req, RadiusCode.AccountingResponse, extra);
  }

  let auth: RadiusUdpServer | undefined;
  let acct: RadiusUdpServer | undefined;
  try {
    auth = await startRadiusUdpServer({ host: o.host, port: o.authPort, handler: onAuth, clients: o.clients, duplicateTtlMs: o.duplicateTtlMs, onError: o.onError });
    acct = await startRadiusUdpServer({ host: o.host, port: o.acctPort, handler: onAcct, clients: o.clients, duplicateTtlMs: o.duplicateTtlMs, onError: o.onError });
  } catch (err) {
    await auth?.close();
    throw err;
  }
  const a = auth;
  const b = acct;
  return {
    authPort: a.port,
    acctPort: b.port,
    stats: () => ({ auth: a.stats(), acct: b.stats(), ...c }),
    close: async () => {
      await Promise.all([a.close(), b.close()]);
    },
  };
}

/** A fresh random shared secret, for tests and first-run configuration. */
export function randomRadiusSecret(): string {
  return randomBytes(24).toString('base64url');
}
