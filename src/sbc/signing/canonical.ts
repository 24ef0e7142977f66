/**
 * The exact strings the header signatures are computed over
 * (docs/header-signing.md, "Canonical forms"). They ignore what re-serialising
 * a header may change — header name case, compact forms, white space, line
 * folding, a list split over several lines, the order of URI or Via
 * parameters, host name case — and keep everything else: every URI, every
 * parameter and value, and the order of the Via and route entries.
 */
import { formatHost, isSipUri, type Params, type Uri, type Via } from '../../sip/index.js';

/** URI parameters of this prefix are our own signatures: never signed themselves. */
export const SIG_PARAM_PREFIX = 'ks-';

function canonicalParams(p: Params, stripSignatures: boolean): string {
  const names = Object.keys(p);
  if (names.length === 0) return '';
  names.sort();
  let out = '';
  for (const n of names) {
    if (stripSignatures && n.startsWith(SIG_PARAM_PREFIX)) continue;
    const v = p[n];
    out += v === null || v === undefined ? ';' + n : ';' + n + '=' + v;
  }
  return out;
}

/** A URI: scheme and host lower-cased, parameters sorted by name, everything else as written. */
export function canonicalUri(u: Uri, stripSignatures = false): string {
  if (!isSipUri(u)) return u.scheme.toLowerCase() + ':' + u.opaque;
  let out = u.scheme + ':';
  if (u.user !== undefined) out += u.user + (u.password !== undefined ? ':' + u.password : '') + '@';
  out += formatHost(u.host.toLowerCase());
  if (u.port !== undefined) out += ':' + u.port;
  out += canonicalParams(u.params, stripSignatures);
  if (u.headers !== undefined) out += '?' + u.headers;
  return out;
}

/** A Via: `SIP/2.0/UDP host:port;params` with the parameters sorted by name. */
export function canonicalVia(v: Via): string {
  return v.protocol + '/' + v.transport + ' ' + formatHost(v.host.toLowerCase()) + (v.port !== undefined ? ':' + v.port : '') + canonicalParams(v.params, false);
}

/** Domain labels: a MAC made for one purpose never verifies for another. */
export const LABEL = {
  via: 'ks1-via',
  rr: 'ks1-rr',
  rsCaller: 'ks1-rs-a',
  rsCallee: 'ks1-rs-b',
} as const;

/**
 * Via signature input: the Vias below the SBC's own, bound to the
 * transaction by Call-ID, CSeq and From tag.
 */
export function viaInput(kid: string, callId: string, cseqSeq: number, cseqMethod: string, fromTag: string, vias: readonly Via[]): string {
  let s = LABEL.via + '\n' + kid + '\n' + callId + '\n' + cseqSeq + ' ' + cseqMethod + '\n' + fromTag + '\n' + vias.length + '\n';
  for (const v of vias) s += canonicalVia(v) + '\n';
  return s;
}

/** The canonical lines of a Record-Route or Route list, signatures stripped: made once for the several inputs over one list. */
export interface RouteLines {
  readonly n: number;
  readonly text: string;
}

export function routeLines(rr: readonly Uri[]): RouteLines {
  let text = '';
  for (const u of rr) text += canonicalUri(u, true) + '\n';
  return { n: rr.length, text };
}

/** Record-Route signature input: the Record-Route URIs in Record-Route order, signatures stripped. */
export function rrInput(kid: string, callId: string, fromTag: string, rr: RouteLines): string {
  return LABEL.rr + '\n' + kid + '\n' + callId + '\n' + fromTag + '\n' + rr.n + '\n' + rr.text;
}

/**
 * Route-set signature input. `side` a: what the caller presents (target =
 * the callee's Contact); b: what the callee presents (target = the caller's
 * Contact). `callerTag` is the caller's tag (From tag of the dialog-forming
 * request) on both sides. `party` is the text of the party who owns that
 * side (`partyText`, src/sbc/dialogs.ts): only it may present the route set.
 */
export function routeSetInput(side: 'a' | 'b', kid: string, callId: string, callerTag: string, rr: RouteLines, target: Uri, party: string): string {
  return (side === 'a' ? LABEL.rsCaller : LABEL.rsCallee) + '\n' + kid + '\n' + callId + '\n' + callerTag + '\n' + rr.n + '\n' + rr.text + canonicalUri(target, false) + '\n' + party + '\n';
}
