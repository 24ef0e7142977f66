/**
 * The licence server's actions (docs/voicemail.md, "Licence server"): the
 * media server's deposit, a subscriber's licence, package, delegation,
 * deletion, and revocation by the sender or the operator. The HTTPS routes
 * (./server.ts, ./web.ts) and the CLI call these; each writes its audit
 * entry, refusals included, and none ever puts a key or a password in the
 * audit, the log or an error.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Deposit, DepositAnswer, Delegation, Licence, RefusalCode } from '../../contracts/licence.js';
import { depositProblem } from '../../contracts/licence.js';
import { openPackage, PackageError } from '../../contracts/voicemail-package.js';
import type { Store } from '../../store/index.js';
import { GrantRefusal, refusalText, type Grant, type VoicemailMessage } from '../../store/voicemail.js';
import { PackageFiles } from './package-files.js';
import { SignInGuard, SIGN_IN_DEFAULTS, type SignInGuardPolicy } from './sign-in-guard.js';

/** A refusal with the HTTP status it is answered with. */
export class LicenceRefused extends Error {
  constructor(readonly statusCode: number, readonly code: RefusalCode | 'conflict' | 'locked', message: string) {
    super(message);
  }
}

const STATUS: Record<RefusalCode, number> = {
  unauthenticated: 401,
  'no-licence': 404,
  spent: 403,
  expired: 403,
  revoked: 403,
  'exceeds-grant': 403,
  'not-forwardable': 403,
  invalid: 400,
};

export interface LicenceServiceOptions {
  dataDir: string;
  /** Largest package accepted at deposit, in bytes. */
  maxPackageBytes: number;
  signIn?: Partial<SignInGuardPolicy>;
}

export class LicenceService {
  readonly files: PackageFiles;
  readonly #guard: SignInGuard;

  constructor(private readonly store: Store, private readonly o: LicenceServiceOptions) {
    this.files = new PackageFiles(o.dataDir);
    this.#guard = new SignInGuard({ ...SIGN_IN_DEFAULTS, ...o.signIn }, store.now);
  }

  /** The media server's deposit, already authenticated by its service key. */
  async deposit(d: Deposit, source: string): Promise<DepositAnswer> {
    const problem = depositProblem(d);
    if (problem) {
      await this.store.audit.add(`media:${source}`, 'voicemail.deposit-refused', typeof (d as Partial<Deposit>)?.messageId === 'string' ? String((d as Deposit).messageId).slice(0, 64) : '', { reason: problem });
      throw new LicenceRefused(400, 'invalid', problem);
    }
    const bytes = Buffer.from(d.package, 'base64');
    if (bytes.length > this.o.maxPackageBytes) throw new LicenceRefused(400, 'invalid', `package larger than ${this.o.maxPackageBytes} bytes`);
    const key = Buffer.from(d.contentKey, 'base64url');
    const refuse = async (reason: string, status = 400): Promise<never> => {
      key.fill(0);
      await this.store.audit.add(`media:${source}`, 'voicemail.deposit-refused', d.messageId, { reason });
      throw new LicenceRefused(status, status === 409 ? 'conflict' : 'invalid', reason);
    };
    try {
      const opened = openPackage(bytes, key);
      opened.audio.fill(0);
      const h = opened.header;
      if (h.messageId !== d.messageId || h.keyId !== d.keyId || h.to !== d.owner || h.codec !== d.codec) {
        return await refuse('the package header does not name this message, key id, owner and codec');
      }
    } catch (err) {
      if (err instanceof PackageError) return await refuse(`the package does not open with this content key (${err.message})`);
      throw err;
    }
    const sha = createHash('sha256').update(bytes).digest('hex');
    const t = this.store.now();
    const existing = await this.store.voicemail.message(d.messageId);
    if (existing) {
      // a retry of the same deposit is answered as done; anything else with this id is refused
      const same = existing.packageSha256 === sha && existing.keyId === d.keyId && existing.owner === d.owner;
      if (!same) return await refuse('another message was deposited with this id', 409);
      key.fill(0);
      return { messageId: d.messageId, created: false };
    }
    this.files.write(d.messageId, bytes);
    const created = await this.store.voicemail.deposit({
      id: d.messageId,
      keyId: d.keyId,
      contentKey: key,
      owner: d.owner,
      sender: d.sender,
      senderDisplay: d.senderDisplay,
      recordedAt: d.recordedAt,
      durationMs: d.durationMs,
      codec: d.codec,
      packageSha256: sha,
      packageBytes: bytes.length,
      rights: {
        playsLeft: d.rights.maxPlays === 0 ? null : d.rights.maxPlays,
        expiresAt: d.rights.expiresDays === 0 ? null : d.recordedAt + d.rights.expiresDays * 86_400_000,
        mayForward: d.rights.mayForward,
        mayModify: d.rights.mayModify,
      },
    });
    key.fill(0);
    if (!created) return this.deposit(d, source); // lost a race with the same id: answered as above
    await this.store.audit.add(`media:${source}`, 'voicemail.deposit', d.messageId, {
      owner: d.owner,
      sender: d.sender,
      keyId: d.keyId,
      durationMs: d.durationMs,
      rights: d.rights,
      at: t,
    });
    return { messageId: d.messageId, created: true };
  }

  /**
   * A subscriber's password: its voicemail password when it has one, else its
   * SIP password. Locked identities and sources are refused without checking.
   */
  async authenticate(idc: string, password: string, source: string): Promise<boolean> {
    // an identity longer than any stored one is not kept as given (bounded memory, bounded audit rows)
    const who = idc.length <= 255 ? idc : '(identity too long)';
    const keys = [`id:${who}`, `ip:${source}`];
    if (this.#guard.locked(keys)) {
      await this.store.audit.add(`subscriber:${who}`, 'voicemail.sign-in-refused', who, { source, reason: 'locked' });
      throw new LicenceRefused(429, 'locked', 'too many failed sign-ins; try again later');
    }
    let ok = false;
    if (idc.length <= 255 && password.length > 0 && password.length <= 256) {
      // the voicemail password's scrypt runs for unknown and disabled identities too: the time taken tells nothing
      const vm = await this.store.voicemail.checkPassword(idc, password);
      const t = await this.store.terminals.get(idc);
      if (t && t.status === 'active') {
        if (vm !== undefined) ok = vm;
        else {
          const sip = await this.store.terminals.sipPassword(idc);
          if (sip !== undefined) {
            const a = createHash('sha256').update(sip).digest();
            const b = createHash('sha256').update(password).digest();
            ok = timingSafeEqual(a, b);
          }
        }
      }
    }
    if (!ok) {
      this.#guard.failed(keys);
      await this.store.audit.add(`subscriber:${who}`, 'voicemail.sign-in-failed', who, { source });
      return false;
    }
    this.#guard.succeeded(`id:${who}`);
    return true;
  }

  /** One play: the content key and the rights left, or a refusal (audited either way). */
  async licence(messageId: string, holder: string, source: string): Promise<Licence> {
    try {
      const g = await this.store.voicemail.spendPlay(messageId, holder);
      const k = await this.store.voicemail.contentKey(messageId);
      if (!k) throw new GrantRefusal('no-licence', refusalText('no-licence'));
      const licence: Licence = { messageId, keyId: k.keyId, alg: 'A256GCM', contentKey: k.key.toString('base64url'), rights: g.rights };
      k.key.fill(0);
      await this.store.audit.add(`subscriber:${holder}`, 'voicemail.play', messageId, { source, playsLeft: g.rights.playsLeft, playsUsed: g.playsUsed });
      return licence;
    } catch (err) {
      throw await this.#refused(err, holder, messageId, 'licence', source);
    }
  }

  /** The protected package, to a subscriber holding an unrevoked grant on it. */
  async package(messageId: string, holder: string, source: string): Promise<Buffer> {
    const g = await this.store.voicemail.grant(messageId, holder);
    const bytes = g && g.revokedAt === null ? this.files.read(messageId) : undefined;
    if (!bytes) throw await this.#refused(new GrantRefusal('no-licence', refusalText('no-licence')), holder, messageId, 'package', source);
    return bytes;
  }

  /** A malformed message id: refused and audited as an unknown one, so that no answer tells the two apart. */
  async malformedId(rawId: string, holder: string, op: 'licence' | 'package' | 'delegate' | 'delete' | 'revoke', source: string): Promise<LicenceRefused> {
    if (op === 'revoke') return this.#noMessageOfYours(`subscriber:${holder}`, rawId, source);
    return (await this.#refused(new GrantRefusal('no-licence', refusalText('no-licence')), holder, rawId, op, source)) as LicenceRefused;
  }

  /** A delegation by a holder to another subscriber (who must exist). */
  async delegate(messageId: string, from: string, d: Delegation, source: string): Promise<Grant> {
    try {
      const to = await this.store.terminals.get(d.to);
      if (!to) throw new GrantRefusal('invalid', `no subscriber ${JSON.stringify(d.to)}`);
      const g = await this.store.voicemail.delegate(messageId, from, d);
      await this.store.audit.add(`subscriber:${from}`, 'voicemail.delegate', messageId, { to: d.to, grant: g.id, rights: g.rights, source });
      return g;
    } catch (err) {
      throw await this.#refused(err, from, messageId, 'delegate', source, { to: d.to, plays: d.plays, expiresAt: d.expiresAt, mayForward: d.mayForward, mayModify: d.mayModify });
    }
  }

  /**
   * Delete from a subscriber's mailbox: the owner removes the message (key,
   * package copy, every grant); a delegate gives up its own grant (and those
   * made from it).
   */
  async remove(messageId: string, holder: string, source: string): Promise<'deleted' | 'dropped'> {
    const m = await this.store.voicemail.message(messageId);
    const g = m ? await this.store.voicemail.grant(messageId, holder) : undefined;
    if (!m || !g || g.revokedAt !== null) throw await this.#refused(new GrantRefusal('no-licence', refusalText('no-licence')), holder, messageId, 'delete', source);
    if (m.owner === holder) {
      await this.store.voicemail.deleteMessage(messageId);
      this.files.remove(messageId);
      await this.store.audit.add(`subscriber:${holder}`, 'voicemail.delete', messageId, { source });
      return 'deleted';
    }
    const n = await this.store.voicemail.revokeGrant(g.id);
    await this.store.audit.add(`subscriber:${holder}`, 'voicemail.drop', messageId, { source, revoked: n });
    return 'dropped';
  }

  /** Revocation of the whole message by its sender (`subscriber:<idc>`) or an operator (`actor` as the audit names it). */
  async revoke(messageId: string, by: { sender: string } | { operator: string }, source: string): Promise<VoicemailMessage> {
    const m = await this.store.voicemail.message(messageId);
    const actor = 'sender' in by ? `subscriber:${by.sender}` : by.operator;
    if (!m || ('sender' in by && (m.sender === '' || m.sender !== by.sender))) throw await this.#noMessageOfYours(actor, messageId, source);
    await this.store.voicemail.revokeMessage(messageId, actor);
    await this.store.audit.add(actor, 'voicemail.revoke', messageId, { source, owner: m.owner });
    return (await this.store.voicemail.message(messageId))!;
  }

  async #noMessageOfYours(actor: string, messageId: string, source: string): Promise<LicenceRefused> {
    await this.store.audit.add(actor, 'voicemail.refused', messageId.slice(0, 64), { op: 'revoke', reason: 'no-licence', source });
    return new LicenceRefused(404, 'no-licence', 'no such message of yours');
  }

  async #refused(err: unknown, who: string, messageId: string, op: string, source: string, extra: Record<string, unknown> = {}): Promise<unknown> {
    if (!(err instanceof GrantRefusal)) return err;
    await this.store.audit.add(`subscriber:${who}`, 'voicemail.refused', messageId.slice(0, 64), { op, reason: err.code, source, ...extra });
    return new LicenceRefused(STATUS[err.code], err.code, err.message);
  }
}
