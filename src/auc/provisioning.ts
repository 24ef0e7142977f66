/**
 * Provisioning actions on terminals and proxies, each with its audit entry:
 * create, rotate, disable, enable, SIP password, delete. The web console
 * uses these; they do exactly what the API's routes do (same checks, same
 * store calls, same audit actions and details), so that an operator's
 * action reads the same in the audit whichever way it was done.
 */
import { randomBytes } from 'node:crypto';
import { DuplicateError, type Principal, type Store } from '../store/index.js';
import type { PrincipalRepo } from '../store/principals.js';
import { identityProblem, keyProblem, sipPasswordProblem } from './validate.js';

export type PrincipalKind = 'terminal' | 'proxy';

export function repoOf(store: Store, kind: PrincipalKind): PrincipalRepo {
  return kind === 'terminal' ? store.terminals : store.proxies;
}

export type Refusal = { refused: 400 | 404 | 409; message: string };

export function isRefusal<T>(r: T | Refusal): r is Refusal {
  return typeof r === 'object' && r !== null && 'refused' in r;
}

const notFound = (kind: PrincipalKind, id: string): Refusal => ({ refused: 404, message: `${kind} ${JSON.stringify(id)} does not exist` });

/** A key typed by an operator (64 hex digits), or '' for one generated here. */
function keyFrom(hex: string): Buffer | Refusal {
  if (!hex) return randomBytes(32);
  const problem = keyProblem(hex);
  return problem ? { refused: 400, message: problem } : Buffer.from(hex, 'hex');
}

/** Creates a principal; `key` is set when it was generated here (shown once, never stored in clear). */
export async function createPrincipal(
  store: Store,
  kind: PrincipalKind,
  id: string,
  o: { keyHex?: string; sipPassword?: string },
  actor: string,
): Promise<{ principal: Principal; key?: Buffer } | Refusal> {
  const problem = identityProblem(id, kind) ?? (o.sipPassword ? sipPasswordProblem(o.sipPassword) : undefined);
  if (problem) return { refused: 400, message: problem };
  if (kind === 'proxy' && o.sipPassword) return { refused: 400, message: 'a proxy has no SIP password' };
  const key = keyFrom(o.keyHex ?? '');
  if (isRefusal(key)) return key;
  try {
    const principal = await repoOf(store, kind).create(id, key, o.sipPassword || undefined);
    await store.audit.add(actor, `${kind}.create`, id, { keyGenerated: !o.keyHex, sipPassword: Boolean(o.sipPassword) });
    return { principal, ...(o.keyHex ? {} : { key }) };
  } catch (err) {
    if (err instanceof DuplicateError) return { refused: 409, message: err.message };
    throw err;
  }
}

/** Replaces the long-term key (a new generation); `key` is set when it was generated here. */
export async function rotatePrincipal(store: Store, kind: PrincipalKind, id: string, keyHex: string, actor: string): Promise<{ principal: Principal; key?: Buffer } | Refusal> {
  const key = keyFrom(keyHex);
  if (isRefusal(key)) return key;
  const principal = await repoOf(store, kind).rotate(id, key);
  if (!principal) return notFound(kind, id);
  await store.audit.add(actor, `${kind}.rotate`, id, { keyGenerated: !keyHex, keyGeneration: principal.keyGeneration });
  return { principal, ...(keyHex ? {} : { key }) };
}

export async function setPrincipalStatus(store: Store, kind: PrincipalKind, id: string, verb: 'disable' | 'enable', actor: string): Promise<Principal | Refusal> {
  const p = await repoOf(store, kind).setStatus(id, verb === 'disable' ? 'disabled' : 'active');
  if (!p) return notFound(kind, id);
  await store.audit.add(actor, `${kind}.${verb}`, id);
  return p;
}

/** Sets a terminal's SIP Digest password, or with null removes it. */
export async function setTerminalSipPassword(store: Store, id: string, sipPassword: string | null, actor: string): Promise<Principal | Refusal> {
  const problem = sipPassword === null ? undefined : sipPasswordProblem(sipPassword);
  if (problem) return { refused: 400, message: problem };
  const p = await store.terminals.setSipPassword(id, sipPassword);
  if (!p) return notFound('terminal', id);
  await store.audit.add(actor, 'terminal.sip-password', id, { set: sipPassword !== null });
  return p;
}

export async function deletePrincipal(store: Store, kind: PrincipalKind, id: string, actor: string): Promise<true | Refusal> {
  if (!(await repoOf(store, kind).delete(id))) return notFound(kind, id);
  await store.audit.add(actor, `${kind}.delete`, id);
  return true;
}
