/**
 * The operator's voicemail actions (docs/voicemail.md): list messages (never
 * a key), revoke one, set or remove a subscriber's voicemail password. The
 * provisioning API (./api-routes.ts) and the CLI (src/cli/voicemail-commands.ts)
 * call these, so both audit the same.
 */
import { ID_PATTERN } from '../../contracts/licence.js';
import type { Store } from '../../store/index.js';
import type { Grant, VoicemailMessage } from '../../store/voicemail.js';

export const VOICEMAIL_PASSWORD_MIN = 8;
export const VOICEMAIL_PASSWORD_MAX = 256;

export function voicemailPasswordProblem(p: string): string | undefined {
  if (p.length < VOICEMAIL_PASSWORD_MIN || p.length > VOICEMAIL_PASSWORD_MAX) return `a voicemail password is ${VOICEMAIL_PASSWORD_MIN} to ${VOICEMAIL_PASSWORD_MAX} characters`;
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'the voicemail password contains control characters';
  return undefined;
}

export interface MessageView {
  id: string;
  owner: string;
  sender: string;
  senderDisplay: string;
  recordedAt: string;
  durationMs: number;
  codec: string;
  status: 'active' | 'revoked';
  grants: Array<{ holder: string; grantedBy: string; playsLeft: number | null; playsUsed: number; expiresAt: string | null; mayForward: boolean; mayModify: boolean; status: 'active' | 'revoked' }>;
}

export function messageView(m: VoicemailMessage, grants: Grant[]): MessageView {
  return {
    id: m.id,
    owner: m.owner,
    sender: m.sender,
    senderDisplay: m.senderDisplay,
    recordedAt: new Date(m.recordedAt).toISOString(),
    durationMs: m.durationMs,
    codec: m.codec,
    status: m.revokedAt === null ? 'active' : 'revoked',
    grants: grants.map((g) => ({
      holder: g.holder,
      grantedBy: g.grantedBy,
      playsLeft: g.rights.playsLeft,
      playsUsed: g.playsUsed,
      expiresAt: g.rights.expiresAt === null ? null : new Date(g.rights.expiresAt).toISOString(),
      mayForward: g.rights.mayForward,
      mayModify: g.rights.mayModify,
      status: g.revokedAt === null ? 'active' : 'revoked',
    })),
  };
}

export async function listMessages(store: Store, offset: number, limit: number): Promise<{ items: MessageView[]; total: number; offset: number; limit: number }> {
  const page = await store.voicemail.all(offset, limit);
  const items: MessageView[] = [];
  for (const m of page.items) items.push(messageView(m, await store.voicemail.grants(m.id)));
  return { items, total: page.total, offset, limit };
}

/** Revokes a message for everyone. undefined: no such message. */
export async function revokeMessage(store: Store, id: string, actor: string): Promise<MessageView | undefined> {
  const m = ID_PATTERN.test(id) ? await store.voicemail.message(id) : undefined;
  if (!m) return undefined;
  const changed = await store.voicemail.revokeMessage(id, actor);
  if (changed) await store.audit.add(actor, 'voicemail.revoke', id, { owner: m.owner });
  return messageView((await store.voicemail.message(id))!, await store.voicemail.grants(id));
}

/** Sets (or with null removes) a subscriber's voicemail password; refuses an unknown subscriber or a bad password. */
export async function setVoicemailPassword(store: Store, idc: string, password: string | null, actor: string): Promise<{ refused: string } | { idc: string; voicemailPassword: 'set' | 'removed' }> {
  if (!(await store.terminals.get(idc))) return { refused: `terminal ${JSON.stringify(idc)} does not exist` };
  if (password !== null) {
    const problem = voicemailPasswordProblem(password);
    if (problem) return { refused: problem };
  }
  await store.voicemail.setPassword(idc, password);
  await store.audit.add(actor, password === null ? 'voicemail.password-remove' : 'voicemail.password-set', idc);
  return { idc, voicemailPassword: password === null ? 'removed' : 'set' };
}
