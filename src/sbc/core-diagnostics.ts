/**
 * What the core writes for its own operators and the SBC must not relay to
 * the untrusted side: a terminal learns from an answer only what the answer
 * itself says (status, challenge, bindings), never the core's reasons
 * (docs/sbc.md, "Answers from the core"). `P-KS-*` headers are removed
 * separately (stripPrivate).
 */
import type { SipResponse } from '../sip/index.js';

/** Header names (lower case) the core may put in an answer for diagnosis only. */
export const CORE_DIAGNOSTIC_HEADERS: readonly string[] = [
  'warning', // RFC 3261 §20.43: free text about why (the core's "unknown-terminal", "locked", parser details)
  'error-info', // RFC 3261 §20.18: a pointer to more about the error
  'server', // RFC 3261 §20.35: the core's software and version
];

/** Removes them from a core answer on its way to a terminal; returns how many went. */
export function stripCoreDiagnostics(res: SipResponse): number {
  let n = 0;
  for (const name of CORE_DIAGNOSTIC_HEADERS) n += res.remove(name);
  return n;
}
