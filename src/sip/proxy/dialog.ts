/** Dialog identifiers read off a message (RFC 3261 §12): the one place a To or From tag is read. */
import type { SipMessage, SipRequest } from '../message.js';

/** The To tag, or undefined when absent or empty. */
export function toTag(m: SipMessage): string | undefined {
  const t = m.to().params.tag;
  return typeof t === 'string' && t !== '' ? t : undefined;
}

/** The From tag ('' when absent: RFC 2543 peers). */
export function fromTag(m: SipMessage): string {
  const t = m.from().params.tag;
  return typeof t === 'string' ? t : '';
}

/** A request with a To tag belongs to a dialog (RFC 3261 §12.2). */
export function inDialog(req: SipRequest): boolean {
  return toTag(req) !== undefined;
}
