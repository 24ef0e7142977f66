/**
 * The AuC's Diameter face (Cx): MAR → vector() or digest(), SAR → registered(),
 * deregistered() or failed(). Mapping in src/diameter/cx-auc.ts, documented in
 * docs/diameter.md.
 */
import type { AucService } from './service.js';
import { APP_CX, CMD_MULTIMEDIA_AUTH, CMD_SERVER_ASSIGNMENT, RESULT } from '../diameter/constants.js';
import { CX_APPLICATION } from '../diameter/identity.js';
import { cxApplication, maaDigest, maaVector, parseMar, parseSar, saaFailure, type CxRefusal } from '../diameter/cx-auc.js';
import { avp } from '../diameter/avp.js';
import { startDiameterServer } from '../diameter/server.js';
import type { RequestContext } from '../diameter/peer.js';
import type { DiameterMessage } from '../diameter/codec.js';

export interface DiameterAucServerOptions {
  host?: string;
  port?: number;
  originHost: string;
  originRealm: string;
  service: AucService;
  hostIpAddresses?: string[];
  /** RFC 3539 Tw towards the softswitches. Default 30 s. */
  watchdogMs?: number;
}

export interface DiameterAucServer {
  port: number;
  close(): Promise<void>;
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
  const server = await startDiameterServer({
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
          if (p.kind === 'vector') return reply(ctx, maaVector(p.req, await service.vector(p.req)));
          return reply(ctx, maaDigest(p.req, await service.digest(p.req)));
        },
      },
      {
        applicationId: APP_CX,
        commandCode: CMD_SERVER_ASSIGNMENT,
        handler: async (req, ctx) => {
          const p = parseSar(req);
          const ok = { outcome: { resultCode: RESULT.SUCCESS } };
          switch (p.kind) {
            case 'refused':
              return reply(ctx, p.refusal);
            case 'registered':
              await service.registered(p.report);
              return reply(ctx, ok);
            case 'deregistered':
              await service.deregistered(p.report);
              return reply(ctx, ok);
            case 'failed':
              return reply(ctx, { ...ok, avps: saaFailure(await service.failed(p.report)) });
          }
        },
      },
    ],
  });
  return { port: server.port, close: () => server.close() };
}
