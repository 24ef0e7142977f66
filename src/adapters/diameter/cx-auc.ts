/**
 * How the AucService calls (s3/s4, Digest, s11, failures) are carried in Cx
 * MAR/MAA and SAR/SAA. Shared by the AuC's server and the softswitch's client,
 * so both sides read exactly what the other writes (docs/diameter.md).
 */
import type {
  AuthVector,
  DeregistrationReport,
  DigestAlgorithm,
  DigestRequest,
  DigestResult,
  FailureOutcome,
  FailureReport,
  RegistrationReport,
  RejectReason,
  VectorRequest,
  VectorResult,
} from '../../contracts/auc.js';
import { avp, findNamed, getBigint, getBuffer, getGroup, getNumber, getString, type Avp } from '../../diameter/avp.js';
import { resultOf, type Outcome } from '../../diameter/answers.js';
import type { DiameterMessage } from '../../diameter/codec.js';
import { APP_CX, AUTH_SESSION_STATE, CX_RESULT, RESULT, SERVER_ASSIGNMENT_TYPE, VENDOR_3GPP } from '../../diameter/constants.js';
import { defaultDictionary, KS_REJECT_REASON, minimumLength } from '../../diameter/dictionary.js';

export const SCHEME_KS1 = 'KS1';
export const SCHEME_DIGEST = 'SIP Digest';

/** Session-Id, application, session state and routing: the head of every Cx request we send. */
export interface CxRequestHead {
  sessionId: string;
  originHost: string;
  originRealm: string;
  destinationRealm: string;
  destinationHost?: string;
}

export function cxHead(h: CxRequestHead): Avp[] {
  const out = [
    avp('Session-Id', h.sessionId),
    cxApplication(),
    avp('Auth-Session-State', AUTH_SESSION_STATE.NO_STATE_MAINTAINED),
    avp('Origin-Host', h.originHost),
    avp('Origin-Realm', h.originRealm),
  ];
  if (h.destinationHost) out.push(avp('Destination-Host', h.destinationHost));
  out.push(avp('Destination-Realm', h.destinationRealm));
  return out;
}

export function cxApplication(): Avp {
  return avp('Vendor-Specific-Application-Id', [avp('Vendor-Id', VENDOR_3GPP), avp('Auth-Application-Id', APP_CX)]);
}

/** The Public-Identity of IDc: IDc is an address-of-record without scheme, Cx wants a SIP URI. */
export function publicIdentity(idc: string): string {
  return `sip:${idc}`;
}

function idcFrom(avps: readonly Avp[]): string | undefined {
  const pub = getString(avps, 'Public-Identity');
  if (pub !== undefined) return pub.startsWith('sip:') ? pub.slice(4) : pub;
  return getString(avps, 'User-Name');
}

function idspFrom(avps: readonly Avp[]): string | undefined {
  const ks = getString(avps, 'KS-Proxy-Identity');
  if (ks !== undefined) return ks;
  const sn = getString(avps, 'Server-Name');
  return sn?.startsWith('sip:') ? sn.slice(4) : sn;
}

// ------------------------------------------------------------------ MAR

export function marVector(req: VectorRequest, serverName: string): Avp[] {
  return [
    avp('User-Name', req.idc),
    avp('Public-Identity', publicIdentity(req.idc)),
    avp('SIP-Number-Auth-Items', 1),
    avp('SIP-Auth-Data-Item', [avp('SIP-Authentication-Scheme', SCHEME_KS1)]),
    avp('Server-Name', serverName),
    avp('KS-Proxy-Identity', req.idsp),
  ];
}

export function marDigest(req: DigestRequest, serverName: string): Avp[] {
  return [
    avp('User-Name', req.username),
    avp('Public-Identity', publicIdentity(req.idc)),
    avp('SIP-Number-Auth-Items', 1),
    avp('SIP-Auth-Data-Item', [
      avp('SIP-Authentication-Scheme', SCHEME_DIGEST),
      avp('SIP-Digest-Authenticate', [avp('Digest-Realm', req.realm), avp('Digest-Algorithm', req.algorithm)]),
    ]),
    avp('Server-Name', serverName),
  ];
}

/** A request the AuC cannot act on: the answer to send instead. */
export interface CxRefusal {
  outcome: Outcome;
  avps?: Avp[];
  failedAvp?: Avp;
  errorMessage?: string;
}

export type ParsedMar =
  | { kind: 'vector'; req: VectorRequest }
  | { kind: 'digest'; req: DigestRequest }
  | { kind: 'refused'; refusal: CxRefusal };

function missing(name: string): { kind: 'refused'; refusal: CxRefusal } {
  // RFC 6733 §7.5: Failed-AVP names the missing AVP with an empty value.
  const def = defaultDictionary.avpNamed(name)!;
  const failedAvp = avp(name, Buffer.alloc(minimumLength(def.type)));
  return { kind: 'refused', refusal: { outcome: { resultCode: RESULT.MISSING_AVP }, failedAvp, errorMessage: `missing ${name}` } };
}

export function parseMar(m: DiameterMessage): ParsedMar {
  const item = getGroup(m.avps, 'SIP-Auth-Data-Item');
  if (!item) return missing('SIP-Auth-Data-Item');
  const scheme = getString(item, 'SIP-Authentication-Scheme');
  if (scheme === undefined) return missing('SIP-Authentication-Scheme');
  const idc = idcFrom(m.avps);
  if (!idc) return missing('Public-Identity');
  if (scheme === SCHEME_KS1) {
    const idsp = idspFrom(m.avps);
    if (!idsp) return missing('KS-Proxy-Identity');
    return { kind: 'vector', req: { idc, idsp } };
  }
  if (scheme === SCHEME_DIGEST) {
    const dig = getGroup(item, 'SIP-Digest-Authenticate') ?? [];
    const realm = getString(dig, 'Digest-Realm');
    if (realm === undefined) return missing('Digest-Realm');
    const alg = getString(dig, 'Digest-Algorithm') ?? 'MD5';
    // H235-SHA1 asks for an H.323 endpoint's H.235.1 key, SHA-1(password) (docs/h323.md).
    if (alg !== 'MD5' && alg !== 'SHA-256' && alg !== 'H235-SHA1') {
      return {
        kind: 'refused',
        refusal: { outcome: { resultCode: RESULT.INVALID_AVP_VALUE }, failedAvp: avp('Digest-Algorithm', alg), errorMessage: 'Digest-Algorithm must be MD5, SHA-256 or H235-SHA1' },
      };
    }
    const username = getString(m.avps, 'User-Name') ?? idc;
    return { kind: 'digest', req: { idc, username, realm, algorithm: alg as DigestAlgorithm } };
  }
  return { kind: 'refused', refusal: { outcome: { experimental: { vendorId: VENDOR_3GPP, code: CX_RESULT.ERROR_AUTH_SCHEME_NOT_SUPPORTED } } } };
}

// ------------------------------------------------------------------ MAA

function rejectAnswer(reason: RejectReason | 'no-sip-password', retryAfterSeconds: number | undefined): CxRefusal {
  // Unknown identities and schemes are Cx (Experimental-Result); a refused but known
  // identity is the base protocol's DIAMETER_AUTHORIZATION_REJECTED (RFC 6733 §7.1.5).
  const outcome: Outcome =
    reason === 'unknown-terminal' || reason === 'unknown-proxy'
      ? { experimental: { vendorId: VENDOR_3GPP, code: CX_RESULT.ERROR_USER_UNKNOWN } }
      : reason === 'no-sip-password'
        ? { experimental: { vendorId: VENDOR_3GPP, code: CX_RESULT.ERROR_AUTH_SCHEME_NOT_SUPPORTED } }
        : { resultCode: RESULT.AUTHORIZATION_REJECTED };
  const avps = [avp('KS-Reject-Reason', KS_REJECT_REASON[reason])];
  if (retryAfterSeconds !== undefined) avps.push(avp('KS-Retry-After', Math.max(0, Math.ceil(retryAfterSeconds))));
  return { outcome, avps };
}

export function maaVector(req: VectorRequest, r: VectorResult): CxRefusal {
  const ids = [avp('User-Name', req.idc), avp('Public-Identity', publicIdentity(req.idc))];
  if (!r.ok) {
    const ans = rejectAnswer(r.reason, r.retryAfterSeconds);
    return { ...ans, avps: [...ids, ...(ans.avps ?? [])] };
  }
  const v = r.vector;
  return {
    outcome: { resultCode: RESULT.SUCCESS },
    avps: [
      ...ids,
      avp('SIP-Number-Auth-Items', 1),
      avp('SIP-Auth-Data-Item', [
        avp('SIP-Item-Number', 1),
        avp('SIP-Authentication-Scheme', SCHEME_KS1),
        avp('SIP-Authenticate', v.rand),
        avp('SIP-Authorization', v.authenticator),
        avp('KS-E-Kc', v.ekc),
        avp('KS-E-Ksp', v.eksp),
        avp('KS-Rand-Expires', BigInt(Math.max(0, Math.floor(v.expiresAt)))),
      ]),
      avp('KS-Proxy-Identity', v.idsp),
    ],
  };
}

export function maaDigest(req: DigestRequest, r: DigestResult): CxRefusal {
  const ids = [avp('User-Name', req.username), avp('Public-Identity', publicIdentity(req.idc))];
  if (!r.ok) {
    const ans = rejectAnswer(r.reason, r.retryAfterSeconds);
    return { ...ans, avps: [...ids, ...(ans.avps ?? [])] };
  }
  return {
    outcome: { resultCode: RESULT.SUCCESS },
    avps: [
      ...ids,
      avp('SIP-Number-Auth-Items', 1),
      avp('SIP-Auth-Data-Item', [
        avp('SIP-Item-Number', 1),
        avp('SIP-Authentication-Scheme', SCHEME_DIGEST),
        avp('SIP-Digest-Authenticate', [avp('Digest-Realm', req.realm), avp('Digest-Algorithm', req.algorithm), avp('Digest-HA1', r.ha1)]),
      ]),
      ...(r.failuresPending === undefined ? [] : [avp('KS-Failures-Pending', r.failuresPending ? 1 : 0)]),
    ],
  };
}

/** What the client makes of an answer: a value, or a reason it could not be read as one. */
export type Read<T> = { ok: true; value: T } | { ok: false; problem: string };

const REASON_BY_CODE = new Map<number, RejectReason | 'no-sip-password'>(
  Object.entries(KS_REJECT_REASON).map(([k, v]) => [v, k as RejectReason | 'no-sip-password']),
);

function readReject(m: DiameterMessage): { reason: RejectReason | 'no-sip-password'; retryAfterSeconds?: number } | undefined {
  const r = resultOf(m);
  if (!r) return undefined;
  let fallback: RejectReason | 'no-sip-password' | undefined;
  if (r.experimental && r.code === CX_RESULT.ERROR_USER_UNKNOWN) fallback = 'unknown-terminal';
  else if (r.experimental && r.code === CX_RESULT.ERROR_AUTH_SCHEME_NOT_SUPPORTED) fallback = 'no-sip-password';
  else if (!r.experimental && r.code === RESULT.AUTHORIZATION_REJECTED) fallback = 'disabled';
  else return undefined;
  const coded = getNumber(m.avps, 'KS-Reject-Reason');
  const reason = (coded !== undefined ? REASON_BY_CODE.get(coded) : undefined) ?? fallback;
  const retry = getNumber(m.avps, 'KS-Retry-After');
  return retry === undefined ? { reason } : { reason, retryAfterSeconds: retry };
}

function describe(m: DiameterMessage): string {
  const r = resultOf(m);
  return r ? `AuC answered ${r.experimental ? 'experimental ' : ''}${r.code}` : 'AuC answer without a result';
}

export function readMaaVector(req: VectorRequest, m: DiameterMessage): Read<VectorResult> {
  const r = resultOf(m);
  if (r && !r.experimental && r.code === RESULT.SUCCESS) {
    const item = getGroup(m.avps, 'SIP-Auth-Data-Item');
    const rand = item && getBuffer(item, 'SIP-Authenticate');
    const authenticator = item && getBuffer(item, 'SIP-Authorization');
    const ekc = item && getBuffer(item, 'KS-E-Kc');
    const eksp = item && getBuffer(item, 'KS-E-Ksp');
    const expires = item && getBigint(item, 'KS-Rand-Expires');
    if (!rand || !authenticator || !ekc || !eksp || expires === undefined) return { ok: false, problem: 'MAA lacks part of the vector' };
    const vector: AuthVector = {
      idc: req.idc,
      idsp: getString(m.avps, 'KS-Proxy-Identity') ?? req.idsp,
      rand: Buffer.from(rand),
      authenticator: Buffer.from(authenticator),
      ekc: Buffer.from(ekc),
      eksp: Buffer.from(eksp),
      expiresAt: Number(expires),
    };
    return { ok: true, value: { ok: true, vector } };
  }
  const rej = readReject(m);
  if (rej && rej.reason !== 'no-sip-password') return { ok: true, value: { ok: false, ...rej, reason: rej.reason } };
  return { ok: false, problem: describe(m) };
}

export function readMaaDigest(m: DiameterMessage): Read<DigestResult> {
  const r = resultOf(m);
  if (r && !r.experimental && r.code === RESULT.SUCCESS) {
    const item = getGroup(m.avps, 'SIP-Auth-Data-Item');
    const dig = item && getGroup(item, 'SIP-Digest-Authenticate');
    const ha1 = dig && getString(dig, 'Digest-HA1');
    if (!ha1) return { ok: false, problem: 'MAA lacks Digest-HA1' };
    // An AuC that does not say is taken to hold failures: the softswitch then reports every success.
    const pending = getNumber(m.avps, 'KS-Failures-Pending');
    return { ok: true, value: { ok: true, ha1, ...(pending === 0 ? { failuresPending: false } : pending === 1 ? { failuresPending: true } : {}) } };
  }
  const rej = readReject(m);
  if (rej) return { ok: true, value: { ok: false, ...rej } };
  return { ok: false, problem: describe(m) };
}

// ------------------------------------------------------------------ SAR

export function sarRegistered(r: RegistrationReport, serverName: string): Avp[] {
  const out = [
    avp('User-Name', r.idc),
    avp('Public-Identity', publicIdentity(r.idc)),
    avp('Server-Name', serverName),
    avp('Server-Assignment-Type', SERVER_ASSIGNMENT_TYPE.REGISTRATION),
    avp('User-Data-Already-Available', 0),
    avp('KS-Proxy-Identity', r.idsp),
    avp('KS-Terminal-IP', r.ipc),
    avp('KS-Protocol', r.protocol),
    avp('KS-Contact', r.contact),
    avp('KS-Mechanism', r.mechanism),
    avp('KS-Registration-Expires', BigInt(Math.max(0, Math.floor(r.expiresAt)))),
  ];
  if (r.rand) out.push(avp('KS-Rand', r.rand));
  return out;
}

export function sarDeregistered(r: DeregistrationReport, serverName: string): Avp[] {
  const out = [
    avp('User-Name', r.idc),
    avp('Public-Identity', publicIdentity(r.idc)),
    avp('Server-Name', serverName),
    avp('Server-Assignment-Type', SERVER_ASSIGNMENT_TYPE.USER_DEREGISTRATION),
    avp('User-Data-Already-Available', 0),
    avp('KS-Proxy-Identity', r.idsp),
    avp('KS-Protocol', r.protocol),
  ];
  if (r.contact !== undefined) out.push(avp('KS-Contact', r.contact));
  return out;
}

export function sarFailed(r: FailureReport, serverName: string): Avp[] {
  const out = [
    avp('User-Name', r.idc),
    avp('Public-Identity', publicIdentity(r.idc)),
    avp('Server-Name', serverName),
    avp('Server-Assignment-Type', SERVER_ASSIGNMENT_TYPE.AUTHENTICATION_FAILURE),
    avp('User-Data-Already-Available', 0),
    avp('KS-Proxy-Identity', r.idsp),
  ];
  if (r.rand) out.push(avp('KS-Rand', r.rand));
  return out;
}

export type ParsedSar =
  | { kind: 'registered'; report: RegistrationReport }
  | { kind: 'deregistered'; report: DeregistrationReport }
  | { kind: 'failed'; report: FailureReport }
  | { kind: 'refused'; refusal: CxRefusal };

const REGISTER_TYPES = new Set<number>([SERVER_ASSIGNMENT_TYPE.REGISTRATION, SERVER_ASSIGNMENT_TYPE.RE_REGISTRATION]);
const DEREGISTER_TYPES = new Set<number>([
  SERVER_ASSIGNMENT_TYPE.TIMEOUT_DEREGISTRATION,
  SERVER_ASSIGNMENT_TYPE.USER_DEREGISTRATION,
  SERVER_ASSIGNMENT_TYPE.TIMEOUT_DEREGISTRATION_STORE_SERVER_NAME,
  SERVER_ASSIGNMENT_TYPE.USER_DEREGISTRATION_STORE_SERVER_NAME,
  SERVER_ASSIGNMENT_TYPE.ADMINISTRATIVE_DEREGISTRATION,
]);

export function parseSar(m: DiameterMessage): ParsedSar {
  const type = getNumber(m.avps, 'Server-Assignment-Type');
  if (type === undefined) return missing('Server-Assignment-Type');
  const idc = idcFrom(m.avps);
  if (!idc) return missing('Public-Identity');
  const idsp = idspFrom(m.avps);
  if (!idsp) return missing('KS-Proxy-Identity');
  const rand = getBuffer(m.avps, 'KS-Rand');
  if (REGISTER_TYPES.has(type)) {
    const ipc = getString(m.avps, 'KS-Terminal-IP');
    if (ipc === undefined) return missing('KS-Terminal-IP');
    const expires = getBigint(m.avps, 'KS-Registration-Expires');
    const report: RegistrationReport = {
      idc,
      idsp,
      ipc,
      protocol: getString(m.avps, 'KS-Protocol') ?? 'sip',
      contact: getString(m.avps, 'KS-Contact') ?? '',
      mechanism: getString(m.avps, 'KS-Mechanism') ?? '',
      expiresAt: expires === undefined ? 0 : Number(expires),
    };
    if (rand) report.rand = Buffer.from(rand);
    return { kind: 'registered', report };
  }
  if (DEREGISTER_TYPES.has(type)) {
    const report: DeregistrationReport = { idc, idsp, protocol: getString(m.avps, 'KS-Protocol') ?? 'sip' };
    const contact = getString(m.avps, 'KS-Contact');
    if (contact !== undefined) report.contact = contact;
    return { kind: 'deregistered', report };
  }
  if (type === SERVER_ASSIGNMENT_TYPE.AUTHENTICATION_FAILURE) {
    const report: FailureReport = { idc, idsp };
    if (rand) report.rand = Buffer.from(rand);
    return { kind: 'failed', report };
  }
  return {
    kind: 'refused',
    refusal: {
      outcome: { resultCode: RESULT.INVALID_AVP_VALUE },
      failedAvp: findNamed(m.avps, 'Server-Assignment-Type')!,
      errorMessage: `Server-Assignment-Type ${type} not served`,
    },
  };
}

export function saaFailure(o: FailureOutcome): Avp[] {
  const out = [avp('KS-Locked', o.locked ? 1 : 0)];
  if (o.retryAfterSeconds !== undefined) out.push(avp('KS-Retry-After', Math.max(0, Math.ceil(o.retryAfterSeconds))));
  return out;
}

export function readSaa(m: DiameterMessage): Read<void> {
  const r = resultOf(m);
  if (r && !r.experimental && r.code === RESULT.SUCCESS) return { ok: true, value: undefined };
  return { ok: false, problem: describe(m) };
}

export function readSaaFailure(m: DiameterMessage): Read<FailureOutcome> {
  const r = resultOf(m);
  if (!r || r.experimental || r.code !== RESULT.SUCCESS) return { ok: false, problem: describe(m) };
  const locked = getNumber(m.avps, 'KS-Locked') === 1;
  const retry = getNumber(m.avps, 'KS-Retry-After');
  return { ok: true, value: retry === undefined ? { locked } : { locked, retryAfterSeconds: retry } };
}
