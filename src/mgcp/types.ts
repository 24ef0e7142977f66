/**
 * MGCP 1.0 (RFC 3435) messages as typed values. The codec knows nothing of
 * keyswitch: parameters are kept in order with the name as sent and a
 * lower-cased key for case-insensitive lookup.
 */

export interface MgcpParam {
  /** As sent (`X-KS-N1`, `rm`). */
  name: string;
  /** `name` lower-cased: parameter names are case-insensitive. */
  key: string;
  value: string;
}

export interface MgcpCommand {
  kind: 'command';
  /** Upper-cased: RSIP, RQNT, NTFY, AUEP, DLCX, CRCX, MDCX, AUCX, EPCF, MESG or an X… extension verb. */
  verb: string;
  /** 1..999999999. */
  tid: number;
  /** `local@domain`; `*` and `$` wildcards allowed as whole local-name terms. */
  endpoint: string;
  /** `1.0`. */
  version: string;
  /** Optional profile name after the version. */
  profile?: string;
  params: MgcpParam[];
  /** Session description after the empty line, carried as bytes. */
  sdp?: Buffer;
}

export interface MgcpResponse {
  kind: 'response';
  /** 000..999. */
  code: number;
  tid: number;
  /** Package name of an 8xx package-specific code (`/pkg` after the transaction id). */
  pkg?: string;
  /** Commentary after the transaction id. */
  text?: string;
  params: MgcpParam[];
  sdp?: Buffer;
}

export type MgcpMessage = MgcpCommand | MgcpResponse;

export const MAX_TID = 999_999_999;

export function param(name: string, value: string): MgcpParam {
  return { name, key: name.toLowerCase(), value };
}

/** The first value of a parameter (names compare case-insensitively). */
export function getParam(m: { params: MgcpParam[] }, name: string): string | undefined {
  const key = name.toLowerCase();
  for (const p of m.params) if (p.key === key) return p.value;
  return undefined;
}

/** How many times a parameter occurs. */
export function countParam(m: { params: MgcpParam[] }, name: string): number {
  const key = name.toLowerCase();
  let n = 0;
  for (const p of m.params) if (p.key === key) n++;
  return n;
}

/** The parameters without those whose key satisfies `drop`. */
export function withoutParams(params: MgcpParam[], drop: (key: string) => boolean): MgcpParam[] {
  return params.filter((p) => !drop(p.key));
}

export const isValidTid = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= MAX_TID;
