import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SessionStore } from './sessions.js';

export const NAV = [
  { href: '/console', label: 'Dashboard' },
  { href: '/console/terminals', label: 'Terminals' },
  { href: '/console/proxies', label: 'Proxies' },
  { href: '/console/import', label: 'Bulk import', admin: true },
  { href: '/console/registrations', label: 'Registrations' },
  { href: '/console/failures', label: 'Failures and lockouts' },
  { href: '/console/blocked', label: 'Blocked' },
  { href: '/console/audit', label: 'Audit' },
] as const;

/** What every signed-in page's layout needs beside its own data. */
export function pageData(req: FastifyRequest, sessions: SessionStore, title: string, current: string) {
  const s = req.consoleSession!;
  return {
    title,
    current,
    nav: NAV.filter((n) => !('admin' in n) || s.role === 'admin'),
    who: { label: s.label || s.tokenId, role: s.role, admin: s.role === 'admin', endsAt: new Date(sessions.endsAt(s)).toISOString() },
    csrf: s.csrf,
  };
}

export type View = (reply: FastifyReply, page: string, data: Record<string, unknown>) => Promise<FastifyReply>;

/** Renders a page into the reply (@fastify/view's reply.view sends it; its typing hides that it is async). */
export const view: View = async (reply, page, data) => {
  await (reply.view(page, data) as unknown as Promise<FastifyReply>);
  return reply;
};

/** Page links for a paged list: the query kept, offset moved. */
export function pager(base: string, query: Record<string, string | undefined>, offset: number, limit: number, total: number) {
  const link = (o: number) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v) q.set(k, v);
    if (o > 0) q.set('offset', String(o));
    const s = q.toString();
    return s ? `${base}?${s}` : base;
  };
  return {
    from: total === 0 ? 0 : offset + 1,
    to: Math.min(offset + limit, total),
    total,
    prev: offset > 0 ? link(Math.max(0, offset - limit)) : undefined,
    next: offset + limit < total ? link(offset + limit) : undefined,
  };
}

/** A whole number from a query field, within bounds; anything else gives the default. */
export function intParam(v: unknown, dflt: number, max: number): number {
  if (typeof v !== 'string' || !/^[0-9]{1,9}$/.test(v)) return dflt;
  return Math.min(Number(v), max);
}

/** A text field of a form or query, trimmed, or '' when absent or not text. */
export function field(o: unknown, name: string, trim = true): string {
  if (!o || typeof o !== 'object' || !Object.hasOwn(o, name)) return '';
  const v = (o as Record<string, unknown>)[name];
  if (typeof v !== 'string') return '';
  return trim ? v.trim() : v;
}

/** Fixed notices after a redirect: the query names one, the text is ours (no text from a link is shown). */
export const NOTICES: Record<string, string> = {
  created: 'Created.',
  rotated: 'Key rotated to the key you gave.',
  disabled: 'Disabled: it can no longer authenticate.',
  enabled: 'Enabled.',
  deleted: 'Deleted.',
  'sip-set': 'SIP password set.',
  'sip-removed': 'SIP password removed.',
  unlocked: 'Unlocked: its failure count is cleared.',
  unblocked: 'Unblocked.',
  deregistered: 'De-registered.',
  'signed-out': 'Signed out.',
  expired: 'Your session ended; sign in again.',
};

export function notice(q: unknown): string | undefined {
  const k = field(q, 'done');
  return Object.hasOwn(NOTICES, k) ? NOTICES[k] : undefined;
}
