/** Building answers (RFC 6733 §6.2, §7.2): same command, ids and P bit as the request. */
import { avp, findAvp, type Avp } from './avp.js';
import type { DiameterHeader, DiameterMessage } from './codec.js';
import { FLAG_ERROR, FLAG_PROXIABLE, isProtocolError } from './constants.js';

export interface Origin {
  originHost: string;
  originRealm: string;
}

export type Outcome = { resultCode: number } | { experimental: { vendorId: number; code: number } };

export interface AnswerExtras {
  errorMessage?: string;
  failedAvp?: Avp;
}

function outcomeAvp(o: Outcome): Avp {
  if ('resultCode' in o) return avp('Result-Code', o.resultCode);
  return avp('Experimental-Result', [avp('Vendor-Id', o.experimental.vendorId), avp('Experimental-Result-Code', o.experimental.code)]);
}

function headerOf(
  req: Pick<DiameterHeader, 'flags' | 'commandCode' | 'applicationId' | 'hopByHop' | 'endToEnd'>,
  o: Outcome,
): Omit<DiameterMessage, 'avps'> {
  // The E bit marks protocol errors (3xxx) only; 5xxx answers are ordinary answers.
  const e = 'resultCode' in o && isProtocolError(o.resultCode) ? FLAG_ERROR : 0;
  return {
    flags: (req.flags & FLAG_PROXIABLE) | e,
    commandCode: req.commandCode,
    applicationId: req.applicationId,
    hopByHop: req.hopByHop,
    endToEnd: req.endToEnd,
  };
}

function tail(extras: AnswerExtras | undefined, origin: Origin): Avp[] {
  const out: Avp[] = [];
  if (extras?.errorMessage !== undefined) {
    out.push(avp('Error-Message', extras.errorMessage), avp('Error-Reporting-Host', origin.originHost));
  }
  if (extras?.failedAvp) out.push(avp('Failed-AVP', [extras.failedAvp]));
  return out;
}

/** An answer to a decoded request: Session-Id first, then the outcome, origin, the body. */
export function makeAnswer(
  req: DiameterMessage,
  origin: Origin,
  outcome: Outcome,
  avps: readonly Avp[] = [],
  extras?: AnswerExtras,
): DiameterMessage {
  const out: Avp[] = [];
  const sid = findAvp(req.avps, 263);
  if (sid) out.push(sid);
  out.push(outcomeAvp(outcome), avp('Origin-Host', origin.originHost), avp('Origin-Realm', origin.originRealm), ...avps, ...tail(extras, origin));
  return { ...headerOf(req, outcome), avps: out };
}

/** An answer to a request whose header was readable but whose body was not. */
export function makeHeaderOnlyAnswer(h: DiameterHeader, origin: Origin, resultCode: number, extras?: AnswerExtras): DiameterMessage {
  const outcome = { resultCode };
  return {
    ...headerOf(h, outcome),
    avps: [avp('Result-Code', resultCode), avp('Origin-Host', origin.originHost), avp('Origin-Realm', origin.originRealm), ...tail(extras, origin)],
  };
}

/** Result-Code, or the code inside Experimental-Result, of an answer. */
export function resultOf(m: DiameterMessage): { code: number; experimental: boolean; vendorId?: number } | undefined {
  const rc = findAvp(m.avps, 268);
  if (rc && typeof rc.value === 'number') return { code: rc.value, experimental: false };
  const er = findAvp(m.avps, 297);
  if (er && Array.isArray(er.value)) {
    const code = findAvp(er.value, 298)?.value;
    const vendorId = findAvp(er.value, 266)?.value;
    if (typeof code === 'number') return { code, experimental: true, ...(typeof vendorId === 'number' ? { vendorId } : {}) };
  }
  return undefined;
}
