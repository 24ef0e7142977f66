/**
 * Provisioning actions on terminals and proxies, each with its audit entry:
 * create, rotate, disable, enable, SIP password, delete. The web console
 * console, the API's routes (src/auc/api/principal-routes.ts) and the CLI
 * (src/cli/provision.ts, src/cli/operator-commands.ts) all call these, so the
 * checks, store calls and audit actions and details are one implementation
 * and an operator's action reads the same in the audit whichever way it was
 * done. Each caller turns a Refusal into its own answer (HTTP error, page,
 * exit 2).
 */
import { randomBytes } from 'node:crypto';
import { DuplicateError, type Principal, type Store } from '../store/index.js';
import type { PrincipalRepo } from '../store/principals.js';
import { identityProblem, keyProblem, sipPasswordProblem } from './validate.js';

export type PrincipalKind = 'terminal' | 'proxy';

export function repoOf(store: Store, kind: PrincipalKind): PrincipalRepo {
  return kind === 'terminal' ? store.terminals : store.proxies;
}

/** `code` is the API's stable reason for the answer (src/auc/api/schemas.ts error). */
export type Refusal = { refused: 400 | 404 | 409; code: 'invalid-identity' | 'invalid-body' | 'exists' | 'not-found'; message: string };

export function isRefusal<T>(r: T | Refusal): r is Refusal {
  return typeof r === 'object' && r !== null && 'refused' in r;
}

const notFound = (kind: PrincipalKind, id: string): Refusal => ({ refused: 404, code: 'not-found', message: `${kind} ${JSON.stringify(id)} does not exist` });

/** A key typed by an operator (64 hex digits), or '' for one generated here. */
function keyFrom(hex: string): Buffer | Refusal {
  if (!hex) return randomBytes(32);
  const problem = keyProblem(hex);
  return problem ? { refused: 400, code: 'invalid-body', message: problem } : Buffer.from(hex, 'hex');
}

/** Why a create would be refused before the store is asked (the CLI checks this before it opens the store). */
export function createRefusal(kind: PrincipalKind, id: string, o: { keyHex?: string; sipPassword?: string }): Refusal | undefined {
  const problem = identityProblem(id, kind);
  if (problem) return { refused: 400, code: 'invalid-identity', message: problem };
  const sipProblem = o.sipPassword ? sipPasswordProblem(o.sipPassword) : undefined;
  if (sipProblem) return { refused: 400, code: 'invalid-body', message: sipProblem };
  if (kind === 'proxy' && o.sipPassword) return { refused: 400, code: 'invalid-body', message: 'a proxy has no SIP password' };
  const keyProblemNow = o.keyHex ? keyProblem(o.keyHex) : undefined;
  return keyProblemNow ? { refused: 400, code: 'invalid-body', message: keyProblemNow } : undefined;
}

/** Creates a principal; `key` is set when it was generated here (shown once, never stored in clear). */
export async function createPrincipal(
  store: Store,
  kind: PrincipalKind,
  id: string,
  o: { keyHex?: string; sipPassword?: string },
  actor: string,
): Promise<{ principal: Principal; key?: Buffer } | Refusal> {
  const refusal = createRefusal(kind, id, o);
  if (refusal) return refusal;
  const key = keyFrom(o.keyHex ?? '');
  if (isRefusal(key)) return key;
  try {
    const principal = await repoOf(store, kind).create(id, key, o.sipPassword || undefined);
    await store.audit.add(actor, `${kind}.create`, id, { keyGenerated: !o.keyHex, sipPassword: Boolean(o.sipPassword) });
    return { principal, ...(o.keyHex ? {} : { key }) };
  } catch (err) {
    if (err instanceof DuplicateError) return { refused: 409, code: 'exists', message: err.message };
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
  if (problem) return { refused: 400, code: 'invalid-body', message: problem };
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
