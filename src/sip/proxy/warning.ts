/**
 * Warning values and local refusals (RFC 3261 §20.43). One escaping rule for every Warning
 * keyswitch writes: the agent loses whitespace, quotes and backslashes (it is a token), the
 * text loses quotes, backslashes and control characters (it is a quoted-string we never escape).
 */
import { createResponse, randomToken } from '../build.js';
import type { SipRequest, SipResponse } from '../message.js';

// eslint-disable-next-line no-control-regex
const TEXT_UNSAFE = /["\\\u0000-\u001f\u007f]/g;
const AGENT_UNSAFE = /[\s"\\]/g;

/** `399 <agent> "<text>"`: code 399, miscellaneous warning. */
export function warningValue(agent: string, text: string): string {
  return `399 ${agent.replace(AGENT_UNSAFE, '') || 'keyswitch'} "${text.replace(TEXT_UNSAFE, '')}"`;
}

export interface RefusalOptions {
  reason?: string | undefined;
  /** Text of a Warning (escaped by warningValue). */
  warning?: string | undefined;
  headers?: ReadonlyArray<readonly [string, string]>;
  /** Seconds, as Retry-After. */
  retryAfter?: number | undefined;
}

/** A final answer made here (with a fresh To tag, RFC 3261 §8.2.6.2) to a request we refuse or cannot route. */
export function refusal(req: SipRequest, status: number, agent: string, o: RefusalOptions = {}): SipResponse {
  const headers: Array<readonly [string, string]> = o.headers ? [...o.headers] : [];
  if (o.warning !== undefined) headers.push(['Warning', warningValue(agent, o.warning)]);
  if (o.retryAfter !== undefined) headers.push(['Retry-After', String(Math.max(0, Math.floor(o.retryAfter)))]);
  return createResponse(req, status, o.reason, { toTag: randomToken(), headers });
}
