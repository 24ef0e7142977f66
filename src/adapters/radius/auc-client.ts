/**
 * The softswitch's AuC client over RADIUS: an AucService whose calls become
 * Access-Requests and Accounting-Requests to a list of AuC servers (failover
 * in order, retransmission with back-off, bounded time, then
 * AucUnavailableError). Every request carries a Message-Authenticator and
 * every answer must carry a valid one.
 */
import { randomWireBytes } from '../../crypto/random-pool.js';
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
import {
  deregisteredAttributes,
  digestRequestAttributes,
  failedAttributes,
  reasonFromWire,
  type WireRejectReason,
  registeredAttributes,
  vectorRequestAttributes,
} from './auc-attributes.js';
import { decodeView, encodePacket, revealVendor, vendorDate, vendorEnum, vendorOctets, type Attribute, type DecodedPacket } from '../../radius/codec.js';
import { KsAttr, RadiusCode } from '../../radius/dictionary.js';
import {
  NoAnswerError,
  RadiusClientTransport,
  type ClientTransportOptions,
  type ClientTransportStats,
  type Port,
  type RadiusServerAddress,
} from '../../radius/client-transport.js';
import type { PacketView } from '../../radius/packet.js';
import { verifyResponse } from '../../radius/sign.js';

export type { RadiusServerAddress } from '../../radius/client-transport.js';

export interface RadiusAucClientOptions extends ClientTransportOptions {
  secret: string;
  /** NAS-Identifier for requests that have no IDsp (Digest). Default 'keyswitch-softswitch'. */
  nasIdentifier?: string;
}

export interface RadiusAucClientStats extends ClientTransportStats {
  protocolErrors: number;
}

/** The AuC answered, but not with something this client understands. */
export class AucProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AucProtocolError';
  }
}

type Answer = { code: number; packet: DecodedPacket; requestAuthenticator: Buffer; secret: Buffer };

export class RadiusAucClient implements AucService {
  private readonly transport: RadiusClientTransport;
  private readonly secret: Buffer;
  private readonly nasIdentifier: string;
  private protocolErrors = 0;

  constructor(o: RadiusAucClientOptions) {
    this.transport = new RadiusClientTransport(o);
    this.secret = Buffer.from(o.secret, 'utf8');
    this.nasIdentifier = o.nasIdentifier ?? 'keyswitch-softswitch';
  }

  stats(): RadiusAucClientStats {
    return { ...this.transport.stats(), protocolErrors: this.protocolErrors };
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  private secretFor(server: RadiusServerAddress): Buffer {
    return server.secret !== undefined ? Buffer.from(server.secret, 'utf8') : this.secret;
  }

  /** Not async: the transport's promise, its NoAnswerError mapped (one promise hop fewer per exchange). */
  private send(port: Port, attributes: Attribute[], expect: readonly number[]): Promise<Answer> {
    const code = port === 'auth' ? RadiusCode.AccessRequest : RadiusCode.AccountingRequest;
    return this.transport
      .exchange<Answer>({
        port,
        build: (identifier, server) => {
          const secret = this.secretFor(server);
          const requestAuthenticator = code === RadiusCode.AccessRequest ? randomWireBytes(16) : undefined;
          const packet = encodePacket({ code, identifier, secret, attributes, requestAuthenticator });
          // An Accounting-Request's authenticator is computed, so read it back from the packet.
          const sentAuth = Buffer.from(packet.subarray(4, 20));
          return {
            packet,
            accept: (view: PacketView): Answer | undefined => {
              if (!expect.includes(view.code)) return undefined;
              if (verifyResponse(view, secret, sentAuth, true) !== 'ok') return undefined;
              const d = decodeView(view);
              return d.ok ? { code: view.code, packet: d.packet, requestAuthenticator: sentAuth, secret } : undefined;
            },
          };
        },
      })
      .catch(unavailable);
  }

  private protocolError(what: string): never {
    this.protocolErrors++;
    throw new AucProtocolError(what);
  }

  async vector(req: VectorRequest): Promise<VectorResult> {
    const a = await this.send('auth', vectorRequestAttributes(req), [RadiusCode.AccessAccept, RadiusCode.AccessReject]);
    if (a.code === RadiusCode.AccessReject) {
      const { reason, retry } = rejectOf(a.packet);
      return { ok: false, reason: reason === 'no-sip-password' ? 'unknown-terminal' : reason, ...retry };
    }
    const rand = vendorOctets(a.packet, 'Keyswitch-Rand');
    const authenticator = revealVendor(a.packet, KsAttr.AuthenticatorC, a.secret, a.requestAuthenticator);
    const ekc = vendorOctets(a.packet, 'Keyswitch-E-Kc');
    const eksp = vendorOctets(a.packet, 'Keyswitch-E-Ksp');
    const expires = vendorDate(a.packet, 'Keyswitch-Rand-Expires');
    if (!rand || !authenticator || !ekc || !eksp || !expires) this.protocolError('Access-Accept lacks part of the vector');
    return { ok: true, vector: { idc: req.idc, idsp: req.idsp, rand, authenticator, ekc, eksp, expiresAt: expires.getTime() } };
  }

  digest(req: DigestRequest): Promise<DigestResult> {
    return this.send('auth', digestRequestAttributes(req, this.nasIdentifier), ACCESS_ANSWERS).then((a) => this.digestResult(a));
  }

  private digestResult(a: Answer): DigestResult {
    if (a.code === RadiusCode.AccessReject) {
      const { reason, retry } = rejectOf(a.packet);
      return { ok: false, reason, ...retry };
    }
    const ha1 = revealVendor(a.packet, KsAttr.DigestHa1, a.secret, a.requestAuthenticator);
    if (!ha1) this.protocolError('Access-Accept lacks Keyswitch-Digest-HA1');
    const pending = vendorEnum(a.packet, 'Keyswitch-Failures-Pending');
    // Only an explicit No spares the report (an AuC that does not say is asked to clear every time).
    return { ok: true, ha1: ha1.toString('utf8'), ...(pending === 'No' ? { failuresPending: false } : pending === 'Yes' ? { failuresPending: true } : {}) };
  }

  async registered(r: RegistrationReport): Promise<void> {
    await this.send('acct', registeredAttributes(r), [RadiusCode.AccountingResponse]);
  }

  async deregistered(r: DeregistrationReport): Promise<void> {
    await this.send('acct', deregisteredAttributes(r), [RadiusCode.AccountingResponse]);
  }

  async failed(r: FailureReport): Promise<FailureOutcome> {
    const a = await this.send('acct', failedAttributes(r, randomWireBytes(8).toString('hex')), [RadiusCode.AccountingResponse]);
    const locked = vendorEnum(a.packet, 'Keyswitch-Locked');
    const retry = vendorEnum(a.packet, 'Keyswitch-Retry-After');
    return { locked: locked === 'Yes', ...(typeof retry === 'number' ? { retryAfterSeconds: retry } : {}) };
  }
}

const ACCESS_ANSWERS: readonly number[] = [RadiusCode.AccessAccept, RadiusCode.AccessReject];

function unavailable(err: unknown): never {
  if (err instanceof NoAnswerError) throw new AucUnavailableError();
  throw err;
}

/** An Access-Reject without our reason (e.g. from a plain RADIUS server) reads as an unknown terminal. */
function rejectOf(p: DecodedPacket): { reason: WireRejectReason; retry: { retryAfterSeconds?: number } } {
  const reason = reasonFromWire(vendorEnum(p, 'Keyswitch-Reject-Reason')) ?? 'unknown-terminal';
  const retry = vendorEnum(p, 'Keyswitch-Retry-After');
  return { reason, retry: typeof retry === 'number' ? { retryAfterSeconds: retry } : {} };
}
