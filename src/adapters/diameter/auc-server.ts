/**
 * The AuC's Diameter face (Cx): MAR → vector() or digest(), SAR → registered(),
 * deregistered() or failed(). Mapping in src/diameter/cx-auc.ts, documented in
 * docs/diameter.md.
 */
import { ReportRefusedError, type AucService, type Requester } from '../../contracts/auc.js';
import { APP_CX, CMD_MULTIMEDIA_AUTH, CMD_SERVER_ASSIGNMENT, RESULT } from '../../diameter/constants.js';
import { CX_APPLICATION, type RemoteIdentity } from '../../diameter/identity.js';
import { peerPsk, sameIdentity } from '../../diameter/tls-psk.js';
import { sourceFilter } from '../../radius/client-filter.js';
import { cxApplication, maaDigest, maaVector, parseMar, parseSar, saaFailure, type CxRefusal } from './cx-auc.js';
import { avp } from '../../diameter/avp.js';
import { startDiameterServer } from '../../diameter/server.js';
import type { ConnectionFacts, RequestContext } from '../../diameter/peer.js';
import type { DiameterMessage } from '../../diameter/codec.js';
import type { Logger } from '../../log/logger.js';

/** One allowed peer: its Origin-Host and where it may connect from (addresses or CIDRs). */
export interface DiameterPeerRule {
  originHost: string;
  addresses: string[];
}

export interface DiameterAucServerOptions {
  host?: string;
  port?: number;
  originHost: string;
  originRealm: string;
  service: AucService;
  /** The only peers that complete CER/CEA; anyone else gets 3010 DIAMETER_UNKNOWN_PEER and is closed. */
  peers: DiameterPeerRule[];
  /**
   * TLS-PSK from the first byte with keys derived from this secret (each
   * peer's key is peerPsk(secret, its Origin-Host), its PSK identity that
   * Origin-Host). Absent: plain TCP.
   */
  tlsPskSecret?: Buffer;
  hostIpAddresses?: string[];
  /** RFC 3539 Tw towards the softswitches. Default 30 s. */
  watchdogMs?: number;
  /**
   * A refused CER or TLS handshake (names and addresses only, for the log);
   * told at most once per 10 s, with how many more were refused meanwhile.
   */
  onRefused?: (info: RefusedPeer) => void;
  /**
   * A request whose handling threw (the store failing, a bug) is answered 5012
   * DIAMETER_UNABLE_TO_COMPLY, counted in `stats()`, and logged here at error:
   * command, peer, the error's name, code and message, never an AVP value (no
   * Rand, no key). At most 10 lines a second, saying how many were not logged.
   */
  logger?: Pick<Logger, 'error'>;
}

export interface RefusedPeer {
  originHost?: string;
  address: string;
  reason: string;
  /** Refusals since the last one told. */
  suppressed: number;
}

/** A flood of refused connections must not become a flood of log lines. */
function everyTenSeconds(fn: ((info: RefusedPeer) => void) | undefined): (info: Omit<RefusedPeer, 'suppressed'>) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (info) => {
    if (!fn) return;
    const now = Date.now();
    if (now - last < 10_000) {
      suppressed++;
      return;
    }
    last = now;
    fn({ ...info, suppressed });
    suppressed = 0;
  };
}

/** The requester a report must come from: the connection's authenticated Origin-Host, not the request's AVP. */
function requesterOf(ctx: RequestContext): Requester {
  return `diameter:${(ctx.peer.remote?.originHost ?? '').toLowerCase()}`;
}

function peerAuthorizer(rules: readonly DiameterPeerRule[], tls: boolean): (remote: RemoteIdentity, conn: ConnectionFacts) => boolean {
  const compiled = rules.map((r) => ({ host: r.originHost, from: sourceFilter(r.addresses.length ? r.addresses : ['0.0.0.0/32']) }));
  return (remote, conn) => {
    // Over TLS-PSK the CER must name the identity whose key opened the connection.
    if (tls && (conn.pskIdentity === undefined || !sameIdentity(conn.pskIdentity, remote.originHost))) return false;
    return compiled.some((r) => sameIdentity(r.host, remote.originHost) && r.from(conn.address));
  };
}

export interface DiameterAucServer {
  port: number;
  /** `handlerErrors`: requests answered 5012 because their handling threw. */
  stats(): { handlerErrors: number };
  close(): Promise<void>;
}

const COMMAND_NAMES: Record<number, string> = { [CMD_MULTIMEDIA_AUTH]: 'MAR', [CMD_SERVER_ASSIGNMENT]: 'SAR' };
const ERROR_LINES_PER_SECOND = 10;

/** Logs a handler's failure: what and from whom, never the request's values; a storm of them costs a few lines a second. */
function handlerErrorLog(log: Pick<Logger, 'error'> | undefined): (err: unknown, req: DiameterMessage, originHost: string | undefined) => void {
  let second = 0;
  let lines = 0;
  let unlogged = 0;
  return (err, req, originHost) => {
    if (!log) return;
    const now = Math.floor(Date.now() / 1000);
    if (now !== second) {
      second = now;
      lines = 0;
    }
    if (lines >= ERROR_LINES_PER_SECOND) {
      unlogged++;
      return;
    }
    lines++;
    const e = err instanceof Error ? err : new Error(String(err));
    const code = (e as { code?: unknown }).code;
    log.error(
      {
        event: 'diameter-handler-error',
        command: COMMAND_NAMES[req.commandCode] ?? String(req.commandCode),
        applicationId: req.applicationId,
        peer: originHost ?? '',
        error: { name: e.name, message: e.message, ...(typeof code === 'string' ? { code } : {}) },
        ...(unlogged ? { notLoggedBefore: unlogged } : {}),
      },
      'AuC Diameter: request failed, answered 5012 DIAMETER_UNABLE_TO_COMPLY',
    );
    unlogged = 0;
  };
}

function reply(ctx: RequestContext, r: CxRefusal): DiameterMessage {
  const extras = {
    ...(r.errorMessage !== undefined ? { errorMessage: r.errorMessage } : {}),
    ...(r.failedAvp ? { failedAvp: r.failedAvp } : {}),
  };
  return ctx.answer(r.outcome, [cxApplication(), avp('Auth-Session-State', 1), ...(r.avps ?? [])], extras);
}

export async function startDiameterAucServer(opts: DiameterAucServerOptions): Promise<DiameterAucServer> {
  const { service } = opts;
  const secret = opts.tlsPskSecret;
  const known = new Set(opts.peers.map((p) => p.originHost.toLowerCase()));
  const refused = everyTenSeconds(opts.onRefused);
  const handlerError = handlerErrorLog(opts.logger);
  const server = await startDiameterServer({
    onHandlerError: (err, req, peer) => handlerError(err, req, peer.remote?.originHost),
    authorize: peerAuthorizer(opts.peers, secret !== undefined),
    onRefused: (remote, conn) => refused({ originHost: remote.originHost, address: conn.address, reason: 'not an allowed peer' }),
    ...(secret
      ? {
          tlsPsk: { keyFor: (identity: string) => (known.has(identity.toLowerCase()) ? peerPsk(secret, identity) : undefined) },
          onTlsError: (address: string, err: Error) => {
            // a client that hung up mid-handshake (a softswitch stopping, a port probe) offered no key to refuse
            if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') return;
            refused({ address, reason: 'TLS-PSK handshake failed' });
          },
        }
      : {}),
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.watchdogMs !== undefined ? { watchdogMs: opts.watchdogMs } : {}),
    local: {
      originHost: opts.originHost,
      originRealm: opts.originRealm,
      productName: 'keyswitch AuC',
      applications: [CX_APPLICATION],
      ...(opts.hostIpAddresses ? { hostIpAddresses: opts.hostIpAddresses } : {}),
    },
    handlers: [
      {
        applicationId: APP_CX,
        commandCode: CMD_MULTIMEDIA_AUTH,
        handler: async (req, ctx) => {
          const p = parseMar(req);
          if (p.kind === 'refused') return reply(ctx, p.refusal);
          if (p.kind === 'vector') return reply(ctx, maaVector(p.req, await service.vector(p.req, requesterOf(ctx))));
          return reply(ctx, maaDigest(p.req, await service.digest(p.req, requesterOf(ctx))));
        },
      },
      {
        applicationId: APP_CX,
        commandCode: CMD_SERVER_ASSIGNMENT,
        handler: async (req, ctx) => {
          const p = parseSar(req);
          const ok = { outcome: { resultCode: RESULT.SUCCESS } };
          const from = requesterOf(ctx);
          try {
            switch (p.kind) {
              case 'refused':
                return reply(ctx, p.refusal);
              case 'registered':
                await service.registered(p.report, from);
                return reply(ctx, ok);
              case 'deregistered':
                await service.deregistered(p.report, from);
                return reply(ctx, ok);
              case 'failed':
                return reply(ctx, { ...ok, avps: saaFailure(await service.failed(p.report, from)) });
            }
          } catch (err) {
            // A report on another peer's challenge, or on none: refused, not counted, and not told which.
            if (err instanceof ReportRefusedError) return reply(ctx, { outcome: { resultCode: RESULT.AUTHORIZATION_REJECTED } });
            throw err;
          }
        },
      },
    ],
  });
  return { port: server.port, stats: () => server.stats(), close: () => server.close() };
}
