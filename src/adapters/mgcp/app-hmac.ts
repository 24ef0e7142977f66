/**
 * The app-hmac mechanism on MGCP commands between gateway and SBC.
 *
 * canonical(command) = the command line, then each parameter as
 * `lower(name):value` in the order sent, each ending in LF, then (if there is
 * a session description) an empty line and its bytes unchanged. Left out:
 * X-KS-SEQ and X-KS-HMAC themselves, and K: — the response
 * acknowledgement list is added hop by hop by the transport when the command
 * is first sent. Names are lower-cased and values trimmed, so a peer
 * re-casing names or re-spacing `name: value` does not break the tag; the
 * command line is `VERB tid endpoint MGCP version[ profile]` with single spaces.
 */
import { toB64u, fromB64u } from '../../crypto/ks1.js';
import { APP_HMAC_TAG_LEN, type AppHmacSigner, type AppHmacVerdict, type AppHmacVerifier } from '../../crypto/app-hmac.js';
import { param, type MgcpCommand, type MgcpParam } from '../../mgcp/types.js';
import { KS } from './params.js';

const EXCLUDED = new Set(['x-ks-seq', 'x-ks-hmac', 'k']);

export function appHmacCanonical(cmd: Pick<MgcpCommand, 'verb' | 'tid' | 'endpoint' | 'version' | 'profile' | 'params' | 'sdp'>): Buffer {
  let text = `${cmd.verb.toUpperCase()} ${cmd.tid} ${cmd.endpoint} MGCP ${cmd.version}${cmd.profile ? ` ${cmd.profile}` : ''}\n`;
  for (const p of cmd.params) if (!EXCLUDED.has(p.key)) text += `${p.key}:${p.value.trim()}\n`;
  if (cmd.sdp && cmd.sdp.length > 0) return Buffer.concat([Buffer.from(`${text}\n`), cmd.sdp]);
  return Buffer.from(text);
}

/** The command with X-KS-SEQ and X-KS-HMAC appended (it must have its transaction id). */
export function protectCommand<T extends MgcpCommand>(cmd: T, signer: AppHmacSigner): T {
  const { seq, tag } = signer.protect(appHmacCanonical(cmd));
  return { ...cmd, params: [...cmd.params, param(KS.SEQ, String(seq)), param(KS.HMAC, toB64u(tag))] };
}

/** Checks X-KS-SEQ/X-KS-HMAC; a malformed value is a bad tag, two copies of either are refused too. */
export function verifyCommand(cmd: MgcpCommand, verifier: AppHmacVerifier): AppHmacVerdict {
  let seqText: string | undefined, tagText: string | undefined, dup = false;
  for (const p of cmd.params) {
    if (p.key === 'x-ks-seq') { dup ||= seqText !== undefined; seqText = p.value; }
    else if (p.key === 'x-ks-hmac') { dup ||= tagText !== undefined; tagText = p.value; }
  }
  if (seqText === undefined || tagText === undefined) return 'missing';
  if (dup || !/^\d{1,15}$/.test(seqText)) return 'bad-tag';
  const tag = fromB64u(tagText, APP_HMAC_TAG_LEN);
  if (!tag) return 'bad-tag';
  return verifier.verify(Number(seqText), appHmacCanonical(cmd), tag);
}

export const withoutProtection = (params: MgcpParam[]): MgcpParam[] => params.filter((p) => p.key !== 'x-ks-seq' && p.key !== 'x-ks-hmac');
