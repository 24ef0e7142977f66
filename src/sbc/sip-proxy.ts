/**
 * The SBC's SIP proxy: requests from the untrusted listeners go through the
 * KS1 flow (REGISTER) or the mechanism guard (everything else) and on to the
 * softswitch over the trusted link; answers come back with every `P-KS-*`
 * removed and, for app-hmac terminals, signed.
 */
import type { Logger } from 'pino';
import { signSipMessage, KS_HMAC } from '../adapters/sip/sbc-app-hmac.js';
import { aorOf, stripPrivate } from '../adapters/sip/ks1-sip.js';
import type { SbcFlow } from '../flow/sbc.js';
import type { Mechanism } from '../flow/messages.js';
import {
  createResponse, isSipUri, randomToken,
  type ServerContext, type SipRequest, type SipResponse, type SipStack, type SipTransport,
} from '../sip/index.js';
import { stripCoreDiagnostics } from './core-diagnostics.js';
import type { FailureCounter, FailureKind } from './sip-failures.js';
import type { SipGuard } from './sip-guard.js';
import type { RegisteredTerminal, SessionTable } from './sessions.js';
import { handleRegister } from './sip-register.js';
import type { SbcCalls } from './sip-calls.js';
import type { ContactMap } from './sip-contacts.js';
import type { SbcMetrics } from './sip-metrics.js';

/** RFC 3325: set by the SBC alone, for a terminal its mechanism authenticated. */
export const P_ASSERTED_IDENTITY = 'P-Asserted-Identity';

/** A request with a To tag belongs to a dialog (RFC 3261 §12.2). */
export function inDialog(req: SipRequest): boolean {
  const t = req.to().params.tag;
  return typeof t === 'string' && t !== '';
}

export interface CoreLink {
  stack: SipStack;
  transport: SipTransport;
  address: string;
  port: number;
}

export interface SbcSipDeps {
  idsp: string;
  flow: SbcFlow;
  /** What the SBC offers (for 494 and the chosen Security-Server's q). */
  offered: Mechanism[];
  sessions: SessionTable;
  guard: SipGuard;
  failures: FailureCounter;
  core: CoreLink;
  /** Ports of the TLS listeners, advertised as `port=` on s10's Security-Server. */
  tlsPorts: { tls?: number; tlsPsk?: number };
  /** Non-INVITE over UDP: send 100 Trying if the core has not answered after this long (RFC 4320: T2). */
  tryingAfterMs: number;
  defaultExpiresSec: number;
  logger?: Logger | undefined;
  now: () => number;
  /** Registered Contacts and terminal flows (requests from the core are routed by them). */
  contacts?: ContactMap;
  metrics?: SbcMetrics | undefined;
}

export interface SbcSipCounters {
  registered: number;
  challenged: number;
  refreshed: number;
  forwarded: number;
  answeredLocally: number;
  privateHeadersStripped: number;
  rejected: number;
}

export class SbcSipProxy {
  readonly counters: SbcSipCounters = { registered: 0, challenged: 0, refreshed: 0, forwarded: 0, answeredLocally: 0, privateHeadersStripped: 0, rejected: 0 };

  /** Everything but REGISTER (set by startSbc once both stacks exist). */
  calls: SbcCalls | undefined;

  constructor(readonly d: SbcSipDeps) {}

  /** Entry point for the untrusted stack. */
  async onRequest(req: SipRequest, ctx: ServerContext): Promise<void> {
    // Only we assert identities on the core link (RFC 3325 §5): whatever a terminal claims goes, with any P-KS-*.
    const stripped = stripPrivate(req) + req.remove(P_ASSERTED_IDENTITY);
    if (stripped) this.counters.privateHeadersStripped += stripped;
    if (req.method === 'REGISTER') return handleRegister(this, req, ctx);
    // Inside a dialog only the party that owns the sender's side may speak, whatever its From (sip-calls.ts).
    if (inDialog(req)) return this.calls!.fromTerminalInDialog(req, ctx);
    const idc = aorOf(req.from());
    const g = this.d.guard.check(req, ctx.source, idc);
    if (!g.ok) return this.refuse(ctx, req, g.kind, g.warning, g.rec);
    req.remove(KS_HMAC);
    if (req.method === 'OPTIONS' && this.isForMe(req)) {
      if (g.rec) this.d.contacts?.seen(g.rec.idc, ctx.source);
      this.counters.answeredLocally++;
      const res = createResponse(req, 200, undefined, {
        toTag: randomToken(),
        headers: [['Allow', 'REGISTER, OPTIONS, INVITE, ACK, CANCEL, BYE, UPDATE, MESSAGE'], ['Accept', 'application/sdp'], ['Supported', 'path']],
      });
      return this.reply(ctx, res, g.rec);
    }
    return this.calls!.fromTerminal(req, ctx, g.rec);
  }

  /** Requests from the trusted side: only from our softswitch, towards terminals registered through us. */
  onCoreRequest(req: SipRequest, ctx: ServerContext): void | Promise<void> {
    if (ctx.source.address !== this.d.core.address) return; // not our softswitch: drop
    if (req.method === 'OPTIONS' && this.isForMe(req)) {
      ctx.respond(200, undefined, { toTag: randomToken() });
      return;
    }
    return this.calls!.fromCore(req, ctx);
  }

  /** A Request-URI without a user part naming this SBC (or any host: the SBC is the first hop). */
  isForMe(req: SipRequest): boolean {
    try {
      const u = req.requestUri();
      return isSipUri(u) && u.user === undefined;
    } catch {
      return false;
    }
  }

  coreDest(): { destination: { address: string; port: number; protocol: 'udp' | 'tcp' }; transport: SipTransport } {
    const c = this.d.core;
    return { destination: { address: c.address, port: c.port, protocol: c.transport.protocol === 'tcp' ? 'tcp' : 'udp' }, transport: c.transport };
  }

  /**
   * Sends `fwd` to the softswitch in a client transaction and returns the final
   * answer with our Via removed. Max-Forwards is decremented (483 at zero).
   * Over UDP a non-INVITE gets 100 Trying if the core is slow (RFC 4320).
   */
  async forward(fwd: SipRequest, ctx: ServerContext, rec?: RegisteredTerminal, edit?: (res: SipResponse) => void): Promise<SipResponse> {
    const mf = fwd.maxForwards() ?? 70;
    if (mf <= 0) return createResponse(fwd, 483);
    fwd.set('Max-Forwards', String(mf - 1));
    fwd.remove(KS_HMAC);
    this.counters.forwarded++;
    let timer: NodeJS.Timeout | undefined;
    if (fwd.method !== 'INVITE' && !ctx.source.transport.reliable) {
      timer = setTimeout(() => {
        // Built from the request as the terminal sent it: `fwd` carries our core-side Via by now,
        // and a 100 topped by it is discarded by the terminal (RFC 3261 §18.1.2).
        const tx = ctx.transaction;
        if (tx && !tx.answered) this.reply(ctx, createResponse(tx.request, 100), rec);
      }, this.d.tryingAfterMs);
      timer.unref?.();
    }
    try {
      const res = await this.d.core.stack.send(fwd, {
        ...this.coreDest(),
        onResponse: (p) => {
          if (p.status > 100 && p.status < 200) {
            p.shift('Via');
            stripCoreDiagnostics(p);
            edit?.(p);
            this.reply(ctx, p, rec);
          }
        },
      });
      res.shift('Via');
      // the core's reasons stay on the trusted side (docs/sbc.md)
      stripCoreDiagnostics(res);
      edit?.(res);
      return res;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** Sends a response towards the terminal: no `P-KS-*`, and an app-hmac tag when the terminal uses it. */
  reply(ctx: ServerContext, res: SipResponse, rec?: RegisteredTerminal): void {
    const n = stripPrivate(res);
    if (n) this.counters.privateHeadersStripped += n;
    res.remove(KS_HMAC);
    if (rec?.downlink && rec.session.mechanism === 'app-hmac') signSipMessage(res, rec.downlink);
    ctx.reply(res, { forwarded: true });
  }

  /** Answers a refused request, counts it against the source, and logs why (never a key). */
  refuse(ctx: ServerContext, req: SipRequest, kind: FailureKind, warning: string, rec?: RegisteredTerminal, status = 403, reason?: string): void {
    this.count(ctx, kind);
    this.counters.rejected++;
    this.d.logger?.warn({ source: ctx.source.address, method: req.method, kind, warning }, 'sbc: refused');
    if (req.method === 'ACK') return;
    const res = createResponse(req, status, reason, { toTag: randomToken(), headers: [['Warning', `399 ${this.d.idsp} "${warning.replace(/["\\]/g, '')}"`]] });
    this.reply(ctx, res, rec);
  }

  count(ctx: ServerContext, kind: FailureKind): void {
    this.d.failures.count(ctx.source.address, kind);
    this.d.metrics?.authFailure(kind);
  }
}
