/**
 * When a call goes to voicemail (docs/voicemail.md, "Diversion"): the
 * softswitch's one policy call into the media server. A new INVITE goes
 * there when the callee is provisioned but not registered (480), busy (486,
 * 600), declines (603) or does not answer within `noAnswerMs`; an INVITE to
 * a message's retrieval address (`<user>.<message id>@…`) always does.
 *
 * What the media server believes comes from here, bound to the request by
 * the core-link signature: the mailbox in `Diversion` (RFC 5806) and the
 * caller's authenticated identity in `P-Asserted-Identity` (RFC 3325).
 */
import { parseHostPort } from '../config/addresses.js';
import type { Config } from '../config/load.js';
import { formatHost, type SipRequest } from '../sip/index.js';

export type DivertReason = 'unavailable' | 'user-busy' | 'no-answer' | 'deflection';

/**
 * Says the softswitch's policy sent this request to the media server (`deposit`
 * or `retrieval`). A P-KS header: the router strips it from everything it did
 * not make itself, so a subscriber who routes a request of its own to the
 * media server (a Route header naming it) cannot pass for a diversion.
 */
export const P_KS_VOICEMAIL = 'P-KS-Voicemail';

/** `<user>.<message id>` (a message) or `<user>.name` (recording the name callers hear). */
const RETRIEVAL = /^.+\.(?:[0-9a-f]{32}|name)$/;

export class VoicemailPolicy {
  constructor(
    readonly server: { address: string; port: number },
    /** A call no contact answers within this long goes to voicemail. */
    readonly noAnswerMs: number,
  ) {}

  /** Is this user part a message's retrieval address (or the name-recording address)? */
  isRetrieval(user: string | undefined): boolean {
    return user !== undefined && RETRIEVAL.test(user);
  }

  /** Is this address:port the media server (the core-link signature covers requests to it)? */
  isServer(address: string | undefined, port?: number): boolean {
    return address === this.server.address && (port === undefined || port === this.server.port);
  }

  /** The voicemail reason for a failed call's final status, or undefined when it does not go to voicemail. */
  reasonFor(status: number): DivertReason | undefined {
    if (status === 480) return 'unavailable';
    if (status === 486 || status === 600) return 'user-busy';
    if (status === 408) return 'no-answer';
    if (status === 603) return 'deflection';
    return undefined;
  }

  /** The next hop of a diverted request. */
  hop(): { address: string; port: number; protocol: 'udp' } {
    return { address: this.server.address, port: this.server.port, protocol: 'udp' };
  }

  /**
   * A copy of `fwd` for the media server: Request-URI the media server's,
   * `Diversion` naming the mailbox (deposit), `P-Asserted-Identity` the
   * authenticated caller (or none when calls are not authenticated).
   */
  divert(fwd: SipRequest, o: { user: string; owner?: string; reason?: DivertReason; caller: string | undefined }): SipRequest {
    const out = fwd.clone();
    out.uri = `sip:${o.user}@${formatHost(this.server.address)}:${this.server.port}`;
    out.remove('Diversion');
    if (o.owner) out.set('Diversion', `<sip:${o.owner}>;reason=${o.reason ?? 'unavailable'};counter=1`);
    out.remove('P-Asserted-Identity');
    if (o.caller) out.set('P-Asserted-Identity', `<sip:${o.caller}>`);
    out.set(P_KS_VOICEMAIL, o.owner ? 'deposit' : 'retrieval');
    return out;
  }
}

/**
 * The policy `softswitch.voicemail.*` configures: the media server named
 * there, or this configuration's own (`media.sip`, the one `keyswitch up`
 * runs); none with `off`.
 */
export function voicemailFromConfig(cfg: Config): VoicemailPolicy | undefined {
  const v = cfg.softswitch.voicemail;
  if (v.server === 'off') return undefined;
  const at = v.server ? parseHostPort(v.server, 'softswitch.voicemail.server') : { host: cfg.media.sip.host, port: cfg.media.sip.port };
  return new VoicemailPolicy({ address: at.host, port: at.port }, v.noAnswerSeconds * 1000);
}
