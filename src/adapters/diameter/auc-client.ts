/**
 * The softswitch's AucService over Diameter Cx, with failover between AuC
 * peers. Anything short of a readable answer within timeoutMs becomes
 * AucUnavailableError (the softswitch answers 503).
 */
import {
  AucUnavailableError,
  type AucService,
  type DeregistrationReport,
  type DigestRequest,
  type DigestResult,
  type FailureOutcome,
  type FailureReport,
  type RegistrationReport,
  type VectorRequest,
  type VectorResult,
} from '../../contracts/auc.js';
import type { Avp } from '../../diameter/avp.js';
import { DiameterClient, type PeerAddress, type PeerStatus } from '../../diameter/client.js';
import type { DiameterMessage } from '../../diameter/codec.js';
import { APP_CX, CMD_MULTIMEDIA_AUTH, CMD_SERVER_ASSIGNMENT, FLAG_PROXIABLE } from '../../diameter/constants.js';
import {
  cxHead,
  marDigest,
  marVector,
  readMaaDigest,
  readMaaVector,
  readSaa,
  readSaaFailure,
  sarDeregistered,
  sarFailed,
  sarRegistered,
  type Read,
} from './cx-auc.js';
import { CX_APPLICATION } from '../../diameter/identity.js';

export interface DiameterAucClientOptions {
  /** AuC peers in priority order (the first is the primary). */
  peers: PeerAddress[];
  originHost: string;
  originRealm: string;
  destinationRealm: string;
  destinationHost?: string;
  /** Server-Name sent in MAR/SAR (this softswitch's SIP URI). Default sip:<originHost>. */
  serverName?: string;
  hostIpAddresses?: string[];
  /** Overall bound of one AucService call across peers. Default 3 s. */
  timeoutMs?: number;
  /** Bound of one attempt on one peer. Default 1 s. */
  requestTimeoutMs?: number;
  /** RFC 3539 Tw. Default 30 s. */
  watchdogMs?: number;
  /** RFC 3539 Tc. Default 2 s. */
  reconnectMs?: number;
  reopenWatchdogs?: number;
  connectTimeoutMs?: number;
  /** TLS-PSK key of this softswitch (identity: originHost), RFC 6733 §13; absent: plain TCP. */
  tlsPsk?: Buffer;
}

export class DiameterAucClient implements AucService {
  private readonly client: DiameterClient;
  private readonly serverName: string;

  constructor(private readonly opts: DiameterAucClientOptions) {
    this.serverName = opts.serverName ?? `sip:${opts.originHost}`;
    this.client = new DiameterClient({
      peers: opts.peers,
      local: {
        originHost: opts.originHost,
        originRealm: opts.originRealm,
        productName: 'keyswitch softswitch',
        applications: [CX_APPLICATION],
        ...(opts.hostIpAddresses ? { hostIpAddresses: opts.hostIpAddresses } : {}),
      },
      totalTimeoutMs: opts.timeoutMs ?? 3000,
      requestTimeoutMs: opts.requestTimeoutMs ?? 1000,
      ...(opts.watchdogMs !== undefined ? { watchdogMs: opts.watchdogMs } : {}),
      ...(opts.reconnectMs !== undefined ? { reconnectMs: opts.reconnectMs } : {}),
      ...(opts.reopenWatchdogs !== undefined ? { reopenWatchdogs: opts.reopenWatchdogs } : {}),
      ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
      ...(opts.tlsPsk ? { tlsPsk: opts.tlsPsk } : {}),
    }).start();
  }

  /** Resolves true once some AuC peer has completed CER/CEA. */
  ready(timeoutMs = 5000): Promise<boolean> {
    return this.client.waitForOpen(timeoutMs);
  }

  status(): PeerStatus[] {
    return this.client.status();
  }

  close(): Promise<void> {
    return this.client.close();
  }

  async vector(req: VectorRequest): Promise<VectorResult> {
    const ans = await this.send(CMD_MULTIMEDIA_AUTH, marVector(req, this.serverName));
    return unwrap(readMaaVector(req, ans));
  }

  async digest(req: DigestRequest): Promise<DigestResult> {
    const ans = await this.send(CMD_MULTIMEDIA_AUTH, marDigest(req, this.serverName));
    return unwrap(readMaaDigest(ans));
  }

  async registered(r: RegistrationReport): Promise<void> {
    unwrap(readSaa(await this.send(CMD_SERVER_ASSIGNMENT, sarRegistered(r, this.serverName))));
  }

  async deregistered(r: DeregistrationReport): Promise<void> {
    unwrap(readSaa(await this.send(CMD_SERVER_ASSIGNMENT, sarDeregistered(r, this.serverName))));
  }

  async failed(r: FailureReport): Promise<FailureOutcome> {
    return unwrap(readSaaFailure(await this.send(CMD_SERVER_ASSIGNMENT, sarFailed(r, this.serverName))));
  }

  private async send(commandCode: number, body: Avp[]): Promise<DiameterMessage> {
    const head = cxHead({
      sessionId: this.client.newSessionId(),
      originHost: this.opts.originHost,
      originRealm: this.opts.originRealm,
      destinationRealm: this.opts.destinationRealm,
      ...(this.opts.destinationHost ? { destinationHost: this.opts.destinationHost } : {}),
    });
    try {
      return await this.client.request({ commandCode, applicationId: APP_CX, flags: FLAG_PROXIABLE, avps: [...head, ...body] });
    } catch (e) {
      throw new AucUnavailableError(`no AuC peer answered: ${(e as Error).message}`);
    }
  }
}

function unwrap<T>(r: Read<T>): T {
  if (!r.ok) throw new AucUnavailableError(r.problem);
  return r.value;
}
