/** Security-Client / Security-Server / Security-Verify (RFC 3329 §2.2). */
import { SipHeaderError, formatParams, isToken, parseParams, skipWs, splitList, type Params } from './lex.js';

export interface SecurityMechanism {
  mechanism: string;
  /** Preference from the q parameter, when present. */
  q?: number;
  params: Params;
}

export function parseSecurity(values: readonly string[], header: string): SecurityMechanism[] {
  const out: SecurityMechanism[] = [];
  for (const v of values) for (const item of splitList(v)) {
    const m = /^[^ \t;]+/.exec(item);
    if (!m || !isToken(m[0])) throw new SipHeaderError(header, 'bad mechanism name');
    const { params, end } = parseParams(item, m[0].length, header);
    if (skipWs(item, end) !== item.length) throw new SipHeaderError(header, 'trailing characters');
    const mech: SecurityMechanism = { mechanism: m[0], params };
    const q = params.q;
    if (q !== undefined) {
      if (q === null || !/^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$/.test(q)) throw new SipHeaderError(header, 'bad q value');
      mech.q = Number(q);
    }
    out.push(mech);
  }
  return out;
}

export function formatSecurity(list: readonly SecurityMechanism[]): string {
  return list
    .map((m) => {
      const p = m.q !== undefined && !('q' in m.params) ? { ...m.params, q: String(m.q) } : m.params;
      return m.mechanism + formatParams(p);
    })
    .join(', ');
}
