/**
 * The intrusion detection at the SBC's MGCP, H.248 and H.323 RAS relays
 * (docs/ids.md): each command from the untrusted side is screened, and the
 * relays tell it the registrations that succeeded or failed.
 */
import type { AuthMechanism, IdsOutcome, IdsProtocol, Verdict } from '../ids/types.js';
import type { IdsEvent } from '../ids/types.js';

/** What a relay needs of the engine. */
export interface RelayIds {
  inspect(ev: IdsEvent): Verdict;
  outcome(o: IdsOutcome): void;
}

/** The verdict on one command: the command (verb), the endpoint or alias it names, its source. */
export function screenCommand(ids: RelayIds | undefined, protocol: IdsProtocol, method: string, identity: string | undefined, host: string, port: number, malformed?: string): Verdict | undefined {
  if (!ids) return undefined;
  const v = ids.inspect({ protocol, transport: 'udp', address: host, port, method: method.toUpperCase(), identity, fields: identity === undefined ? undefined : { endpoint: identity }, malformed });
  return v.kind === 'pass' ? undefined : v;
}

export function authOutcome(ids: RelayIds | undefined, protocol: IdsProtocol, ok: boolean, mechanism: AuthMechanism, identity: string | undefined, host: string, port: number, reason?: string): void {
  ids?.outcome({ kind: ok ? 'auth-success' : 'auth-failure', protocol, transport: 'udp', address: host, port, identity, mechanism, ...(reason ? { reason } : {}) });
}
