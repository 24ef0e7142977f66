/**
 * The SBC's SIP requests, by where they come from and what they are: from the untrusted
 * listeners REGISTER goes to the KS1 flow (sip-register.ts), anything in a dialog to the
 * dialog-ownership checks and everything else through the mechanism guard (sip-calls.ts);
 * from the trusted link only our softswitches' requests, towards terminals registered here.
 * The SBC is the proxy core (src/sip/proxy) plus these policies: docs/sip-stack.md.
 */
import { KS_HMAC } from '../adapters/sip/sbc-app-hmac.js';
import { aorOf, stripPrivate } from '../adapters/sip/ks1-sip.js';
import { createResponse, randomToken, type ServerContext, type SipRequest } from '../sip/index.js';
import { inDialog } from '../sip/proxy/dialog.js';
import type { SipGuard } from './sip-guard.js';
import type { ContactMap } from './sip-contacts.js';
import { handleRegister, type RegisterDeps } from './sip-register.js';
import type { SbcCalls } from './sip-calls.js';
import { P_ASSERTED_IDENTITY, type SbcSides } from './sip-sides.js';

export interface SbcSipProxyDeps {
  sides: SbcSides;
  guard: SipGuard;
  register: RegisterDeps;
  calls: SbcCalls;
  contacts?: ContactMap | undefined;
}

export class SbcSipProxy {
  constructor(readonly d: SbcSipProxyDeps) {}

  /**
   * Entry point for the untrusted stack, served by the proxy core: shared state (Redis) out of
   * reach is answered 503 with Retry-After by the core's onError (run.ts), not accepted.
   */
  async onRequest(req: SipRequest, ctx: ServerContext): Promise<void> {
    const sides = this.d.sides;
    // Only we assert identities on the core link (RFC 3325 §5): whatever a terminal claims goes, with any P-KS-*.
    const stripped = stripPrivate(req) + req.remove(P_ASSERTED_IDENTITY);
    if (stripped) sides.counters.privateHeadersStripped += stripped;
    if (req.method === 'REGISTER') return handleRegister(this.d.register, req, ctx);
    // Inside a dialog only the party that owns the sender's side may speak, whatever its From (sip-calls.ts).
    if (inDialog(req)) return this.d.calls.fromTerminalInDialog(req, ctx);
    const idc = aorOf(req.from());
    let g = this.d.guard.check(req, ctx.source, idc);
    if (g instanceof Promise) g = await g; // only with a shared (Redis) session store
    if (!g.ok) return sides.refuse(ctx, req, g.kind, g.warning, g.rec);
    req.remove(KS_HMAC);
    if (req.method === 'OPTIONS' && sides.isForMe(req)) {
      if (g.rec) this.d.contacts?.seen(g.rec.idc, ctx.source);
      sides.counters.answeredLocally++;
      const res = createResponse(req, 200, undefined, {
        toTag: randomToken(),
        headers: [['Allow', 'REGISTER, OPTIONS, INVITE, ACK, CANCEL, BYE, UPDATE, MESSAGE'], ['Accept', 'application/sdp'], ['Supported', 'path']],
      });
      return sides.reply(ctx, res, g.rec);
    }
    return this.d.calls.fromTerminal(req, ctx, g.rec);
  }

  /** Requests from the trusted side: only from our softswitches (any of `sbc.softswitch`), towards terminals registered through us. */
  onCoreRequest(req: SipRequest, ctx: ServerContext): void | Promise<void> {
    const sides = this.d.sides;
    if (!sides.link.softswitches.isMemberAddress(ctx.source.address)) return; // not one of our softswitches: drop
    if (req.method === 'OPTIONS' && sides.isForMe(req)) {
      ctx.respond(200, undefined, { toTag: randomToken() });
      return;
    }
    return this.d.calls.fromCore(req, ctx);
  }
}
