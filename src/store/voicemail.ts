import type { Knex } from 'knex';
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { KeyVault } from '../crypto/vault.js';
import type { Delegation, RefusalCode, RightsLeft } from '../contracts/licence.js';
import { MAX_PLAYS } from '../contracts/licence.js';
import { isUniqueViolation, num } from './rows.js';

/** A deposited message as the store keeps it (the content key stays sealed). */
export interface VoicemailMessage {
  id: string;
  keyId: string;
  owner: string;
  sender: string;
  senderDisplay: string;
  recordedAt: number;
  durationMs: number;
  codec: 'PCMU' | 'PCMA';
  packageSha256: string;
  packageBytes: number;
  createdAt: number;
  revokedAt: number | null;
}

export interface Grant {
  id: number;
  messageId: string;
  holder: string;
  parentId: number | null;
  grantedBy: string;
  rights: RightsLeft;
  playsUsed: number;
  createdAt: number;
  revokedAt: number | null;
}

export interface NewMessage extends Omit<VoicemailMessage, 'createdAt' | 'revokedAt'> {
  contentKey: Buffer;
  rights: RightsLeft;
}

/** A refusal of the store, with the contract's code. */
export class GrantRefusal extends Error {
  constructor(readonly code: RefusalCode, message: string) {
    super(message);
  }
}

type Row = Record<string, unknown>;

const binding = (id: string) => `voicemail|key|${id}`;

function toMessage(r: Row): VoicemailMessage {
  return {
    id: String(r.id),
    keyId: String(r.key_id),
    owner: String(r.owner),
    sender: String(r.sender),
    senderDisplay: String(r.sender_display),
    recordedAt: num(r.recorded_at),
    durationMs: num(r.duration_ms),
    codec: r.codec === 'PCMA' ? 'PCMA' : 'PCMU',
    packageSha256: String(r.package_sha256),
    packageBytes: num(r.package_bytes),
    createdAt: num(r.created_at),
    revokedAt: r.revoked_at == null ? null : num(r.revoked_at),
  };
}

function toGrant(r: Row): Grant {
  return {
    id: num(r.id),
    messageId: String(r.message_id),
    holder: String(r.holder),
    parentId: r.parent_id == null ? null : num(r.parent_id),
    grantedBy: String(r.granted_by),
    rights: {
      playsLeft: r.plays_left == null ? null : num(r.plays_left),
      expiresAt: r.expires_at == null ? null : num(r.expires_at),
      mayForward: num(r.may_forward) === 1,
      mayModify: num(r.may_modify) === 1,
    },
    playsUsed: num(r.plays_used),
    createdAt: num(r.created_at),
    revokedAt: r.revoked_at == null ? null : num(r.revoked_at),
  };
}

/** Why a grant gives no licence now, or undefined when it gives one. */
export function grantProblem(m: VoicemailMessage, g: Grant, now: number): RefusalCode | undefined {
  if (m.revokedAt !== null || g.revokedAt !== null) return 'revoked';
  if (g.rights.expiresAt !== null && g.rights.expiresAt <= now) return 'expired';
  if (g.rights.playsLeft !== null && g.rights.playsLeft <= 0) return 'spent';
  return undefined;
}

const scrypt = (pw: string, salt: Buffer, n: number, o: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) => scryptCb(pw, salt, n, o, (err, key) => (err ? reject(err) : resolve(key))));
const SCRYPT = { N: 16384, r: 8, p: 1 } as const;
const DUMMY_SALT = Buffer.alloc(16);

/**
 * Voicemail's licence state (docs/voicemail.md, "Licence server"): messages
 * with their sealed content keys, grants with their rights, and subscribers'
 * voicemail passwords. Every check that spends a right is one conditional
 * UPDATE, so concurrent requests cannot spend one play twice.
 */
export class VoicemailRepo {
  constructor(private readonly knex: Knex, private readonly vault: KeyVault, private readonly now: () => number) {}

  /** Stores a message and its owner's grant. false: a message with that id exists already. */
  async deposit(m: NewMessage): Promise<boolean> {
    const t = this.now();
    try {
      await this.knex.transaction(async (trx) => {
        await trx('voicemail_messages').insert({
          id: m.id,
          key_id: m.keyId,
          key_enc: this.vault.seal(m.contentKey, binding(m.id)),
          mk_version: this.vault.version,
          owner: m.owner,
          sender: m.sender,
          sender_display: m.senderDisplay,
          recorded_at: m.recordedAt,
          duration_ms: m.durationMs,
          codec: m.codec,
          package_sha256: m.packageSha256,
          package_bytes: m.packageBytes,
          created_at: t,
        });
        await trx('voicemail_grants').insert(grantRow(m.id, m.owner, null, 'deposit', m.rights, t));
      });
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
    return true;
  }

  async message(id: string): Promise<VoicemailMessage | undefined> {
    const r = await this.knex('voicemail_messages').where({ id }).first();
    return r ? toMessage(r) : undefined;
  }

  /** The message's key id and content key (for a licence). */
  async contentKey(id: string): Promise<{ keyId: string; key: Buffer } | undefined> {
    const r = await this.knex('voicemail_messages').where({ id }).first('key_id', 'key_enc');
    return r ? { keyId: String(r.key_id), key: this.vault.open(String(r.key_enc), binding(id)) } : undefined;
  }

  async grant(messageId: string, holder: string): Promise<Grant | undefined> {
    const r = await this.knex('voicemail_grants').where({ message_id: messageId, holder }).first();
    return r ? toGrant(r) : undefined;
  }

  async grantById(id: number): Promise<Grant | undefined> {
    const r = await this.knex('voicemail_grants').where({ id }).first();
    return r ? toGrant(r) : undefined;
  }

  /** Messages a subscriber holds a live (unrevoked) grant on, newest first, with that grant. */
  async inbox(holder: string, limit = 200): Promise<Array<{ message: VoicemailMessage; grant: Grant }>> {
    const rows: Row[] = await this.knex('voicemail_grants as g')
      .join('voicemail_messages as m', 'm.id', 'g.message_id')
      .where('g.holder', holder)
      .whereNull('g.revoked_at')
      .orderBy('m.recorded_at', 'desc')
      .limit(limit)
      .select('m.*', 'g.id as g_id', 'g.message_id as g_message_id', 'g.holder as g_holder', 'g.parent_id as g_parent_id', 'g.granted_by as g_granted_by',
        'g.plays_left as g_plays_left', 'g.plays_used as g_plays_used', 'g.expires_at as g_expires_at', 'g.may_forward as g_may_forward',
        'g.may_modify as g_may_modify', 'g.created_at as g_created_at', 'g.revoked_at as g_revoked_at');
    return rows.map((r) => ({ message: toMessage(r), grant: toGrant(Object.fromEntries(Object.entries(r).filter(([k]) => k.startsWith('g_')).map(([k, v]) => [k.slice(2), v]))) }));
  }

  /** Messages a subscriber left (as the authenticated caller), newest first. */
  async sent(sender: string, limit = 200): Promise<VoicemailMessage[]> {
    if (!sender) return [];
    const rows: Row[] = await this.knex('voicemail_messages').where({ sender }).orderBy('recorded_at', 'desc').limit(limit);
    return rows.map(toMessage);
  }

  /** Every message, newest first (operator listing). */
  async all(offset: number, limit: number): Promise<{ items: VoicemailMessage[]; total: number }> {
    const [{ n }] = await this.knex('voicemail_messages').count({ n: '*' });
    const rows: Row[] = await this.knex('voicemail_messages').orderBy('created_at', 'desc').offset(offset).limit(limit);
    return { items: rows.map(toMessage), total: num(n) };
  }

  async grants(messageId: string): Promise<Grant[]> {
    const rows: Row[] = await this.knex('voicemail_grants').where({ message_id: messageId }).orderBy('id');
    return rows.map(toGrant);
  }

  /**
   * Spends one play of the holder's grant, if it has one to spend, in one
   * statement. The refusal names why (no grant and unknown message alike: no-licence).
   */
  async spendPlay(messageId: string, holder: string): Promise<Grant> {
    const t = this.now();
    const n = await this.knex('voicemail_grants')
      .where({ message_id: messageId, holder })
      .whereNull('revoked_at')
      .where((q) => q.whereNull('plays_left').orWhere('plays_left', '>', 0))
      .where((q) => q.whereNull('expires_at').orWhere('expires_at', '>', t))
      .whereNotExists((q) => q.select(this.knex.raw('1')).from('voicemail_messages').where('id', messageId).whereNotNull('revoked_at'))
      .update({ plays_left: this.knex.raw('case when plays_left is null then null else plays_left - 1 end'), plays_used: this.knex.raw('plays_used + 1') });
    const g = await this.grant(messageId, holder);
    const m = await this.message(messageId);
    if (!g || !m) throw new GrantRefusal('no-licence', 'no licence for this message');
    if (n === 1) return g;
    throw new GrantRefusal(grantProblem(m, g, t) ?? 'revoked', refusalText(grantProblem(m, g, t) ?? 'revoked'));
  }

  /**
   * A delegation from `from`'s grant to `d.to`, with rights no greater than
   * the grantor's now: refused (exceeds-grant) otherwise. One transaction, the
   * grantor's row read under it.
   */
  async delegate(messageId: string, from: string, d: Delegation): Promise<Grant> {
    return this.knex.transaction(async (trx) => {
      const t = this.now();
      const gr = await trx('voicemail_grants').where({ message_id: messageId, holder: from }).forUpdate().first();
      const mr = await trx('voicemail_messages').where({ id: messageId }).first();
      if (!gr || !mr) throw new GrantRefusal('no-licence', 'no licence for this message');
      const g = toGrant(gr);
      const problem = grantProblem(toMessage(mr), g, t);
      if (problem) throw new GrantRefusal(problem, refusalText(problem));
      if (!g.rights.mayForward) throw new GrantRefusal('not-forwardable', 'your licence does not allow forwarding this message');
      if (d.to === from) throw new GrantRefusal('invalid', 'a delegation goes to another subscriber');
      const exceeds: string[] = [];
      if (!Number.isSafeInteger(d.plays) || d.plays < 1 || d.plays > MAX_PLAYS) throw new GrantRefusal('invalid', `plays must be 1..${MAX_PLAYS}`);
      if (g.rights.playsLeft !== null && d.plays > g.rights.playsLeft) exceeds.push(`plays ${d.plays} > your ${g.rights.playsLeft}`);
      const expiresAt = d.expiresAt ?? g.rights.expiresAt;
      if (expiresAt !== null && (!Number.isSafeInteger(expiresAt) || expiresAt <= t)) throw new GrantRefusal('invalid', 'the expiry must be in the future');
      if (g.rights.expiresAt !== null && (expiresAt === null || expiresAt > g.rights.expiresAt)) exceeds.push('expiry later than yours');
      if (d.mayForward && !g.rights.mayForward) exceeds.push('may forward');
      if (d.mayModify && !g.rights.mayModify) exceeds.push('may modify');
      if (exceeds.length) throw new GrantRefusal('exceeds-grant', `refused: the delegation exceeds your rights (${exceeds.join(', ')})`);
      const existing = await trx('voicemail_grants').where({ message_id: messageId, holder: d.to }).first();
      if (existing) throw new GrantRefusal('invalid', `${d.to} already holds a licence for this message`);
      const row = grantRow(messageId, d.to, g.id, from, { playsLeft: d.plays, expiresAt, mayForward: d.mayForward, mayModify: d.mayModify }, t);
      await trx('voicemail_grants').insert(row);
      const made = await trx('voicemail_grants').where({ message_id: messageId, holder: d.to }).first();
      return toGrant(made!);
    });
  }

  /** Revokes a grant and every grant made from it; returns how many were revoked. */
  async revokeGrant(id: number): Promise<number> {
    return this.knex.transaction(async (trx) => {
      const t = this.now();
      let frontier = [id];
      let n = 0;
      for (let depth = 0; frontier.length && depth < 64; depth++) {
        n += await trx('voicemail_grants').whereIn('id', frontier).whereNull('revoked_at').update({ revoked_at: t });
        const kids: Row[] = await trx('voicemail_grants').whereIn('parent_id', frontier).select('id');
        frontier = kids.map((k) => num(k.id));
      }
      return n;
    });
  }

  /** Revokes a whole message: no licence to anyone. false: no such message, or already revoked. */
  async revokeMessage(id: string, by: string): Promise<boolean> {
    const n = await this.knex('voicemail_messages').where({ id }).whereNull('revoked_at').update({ revoked_at: this.now(), revoked_by: by });
    return n === 1;
  }

  /** Deletes a message, its sealed key and every grant. */
  async deleteMessage(id: string): Promise<boolean> {
    return this.knex.transaction(async (trx) => {
      await trx('voicemail_grants').where({ message_id: id }).delete();
      return (await trx('voicemail_messages').where({ id }).delete()) === 1;
    });
  }

  /** Sets (or with null removes) a subscriber's voicemail password. */
  async setPassword(idc: string, password: string | null): Promise<void> {
    if (password === null) {
      await this.knex('voicemail_passwords').where({ idc }).delete();
      return;
    }
    const salt = randomBytes(16);
    const hash = await scrypt(password, salt, 32, SCRYPT);
    const value = `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
    const t = this.now();
    await this.knex('voicemail_passwords').insert({ idc, hash: value, updated_at: t }).onConflict('idc').merge({ hash: value, updated_at: t });
  }

  /**
   * undefined: no voicemail password is set; otherwise whether this one
   * matches. The scrypt runs either way, so the time taken does not tell
   * who has a voicemail password.
   */
  async checkPassword(idc: string, password: string): Promise<boolean | undefined> {
    const r = await this.knex('voicemail_passwords').where({ idc }).first('hash');
    if (!r) {
      await scrypt(password, DUMMY_SALT, 32, SCRYPT);
      return undefined;
    }
    const [, n, rr, p, salt, hash] = String(r.hash).split('$');
    const want = Buffer.from(hash ?? '', 'base64url');
    const got = await scrypt(password, Buffer.from(salt ?? '', 'base64url'), want.length || 32, { N: Number(n), r: Number(rr), p: Number(p) });
    return want.length === got.length && timingSafeEqual(want, got);
  }
}

function grantRow(messageId: string, holder: string, parentId: number | null, grantedBy: string, r: RightsLeft, t: number): Row {
  return {
    message_id: messageId,
    holder,
    parent_id: parentId,
    granted_by: grantedBy,
    plays_left: r.playsLeft,
    plays_used: 0,
    expires_at: r.expiresAt,
    may_forward: r.mayForward ? 1 : 0,
    may_modify: r.mayModify ? 1 : 0,
    created_at: t,
  };
}

export function refusalText(code: RefusalCode): string {
  switch (code) {
    case 'spent': return 'refused: every play of this licence has been used';
    case 'expired': return 'refused: this licence has expired';
    case 'revoked': return 'refused: this licence or message was revoked';
    case 'not-forwardable': return 'refused: your licence does not allow forwarding this message';
    case 'exceeds-grant': return 'refused: the delegation exceeds your rights';
    case 'unauthenticated': return 'authentication required';
    case 'invalid': return 'invalid request';
    default: return 'no licence for this message';
  }
}
