/**
 * What happens to a recording (docs/voicemail.md, "Protection"): sealed in
 * memory under a fresh content key, the plaintext zeroed, the package
 * stored (ciphertext only, atomically), then the key, key id and rights
 * deposited with the licence server, then the owner notified. A store that
 * fails leaves nothing; a deposit that never succeeds removes the package
 * (no key anywhere would open it).
 */
import type { Deposit, DepositAnswer } from '../contracts/licence.js';
import type { Logger } from '../log/logger.js';
import type { G711 } from '../rtp/index.js';
import { newMessageId, readPackageHeader, sealPackage, type PackageRights } from '../contracts/voicemail-package.js';
import type { PackageStore } from './package-store.js';
import type { MessageNotice } from './notify.js';

export interface LicenceDepositor {
  deposit(d: Deposit): Promise<DepositAnswer>;
}

export interface KeptRecording {
  audio: Buffer;
  rights: PackageRights;
  owner: string;
  sender: string;
  senderDisplay: string;
  codec: G711;
}

export interface MailboxStats {
  stored: number;
  storeFailed: number;
  deposited: number;
  depositFailed: number;
}

export class Mailbox {
  readonly #byOwner = new Map<string, Set<string>>();
  readonly st: MailboxStats = { stored: 0, storeFailed: 0, deposited: 0, depositFailed: 0 };

  constructor(
    private readonly o: {
      store: PackageStore;
      licence: LicenceDepositor;
      notify: (n: MessageNotice) => Promise<void>;
      logger?: Logger;
      /** Waits between deposit attempts (default 1, 2, 4, 8, 16 s). */
      retryDelaysMs?: number[];
      now?: () => number;
    },
  ) {
    for (const id of o.store.list()) {
      const bytes = o.store.read(id);
      try {
        if (bytes) this.#index(readPackageHeader(bytes).header.to, id);
      } catch {
        o.logger?.warn({ messageId: id }, 'media: a stored file is not a voicemail package; ignored');
      }
    }
  }

  #index(owner: string, id: string): number {
    let s = this.#byOwner.get(owner);
    if (!s) this.#byOwner.set(owner, (s = new Set()));
    s.add(id);
    return s.size;
  }

  /** Messages of an owner this media server holds. */
  count(owner: string): number {
    return this.#byOwner.get(owner)?.size ?? 0;
  }

  /** Seals, stores, deposits and notifies; resolves with the message id, or undefined when the message could not be kept. */
  async keep(r: KeptRecording): Promise<string | undefined> {
    const now = (this.o.now ?? Date.now)();
    const messageId = newMessageId();
    let sealed: ReturnType<typeof sealPackage>;
    try {
      sealed = sealPackage(r.audio, { messageId, codec: r.codec, to: r.owner, from: r.senderDisplay, createdAt: new Date(now).toISOString(), rights: r.rights });
    } finally {
      r.audio.fill(0);
    }
    const { pkg, contentKey } = sealed;
    const log = { messageId, owner: r.owner };
    try {
      this.o.store.write(pkg);
    } catch (err) {
      contentKey.fill(0);
      this.st.storeFailed++;
      this.o.logger?.error({ ...log, code: (err as NodeJS.ErrnoException).code ?? 'error' }, 'media: the message could not be stored; nothing of it was kept');
      return undefined;
    }
    this.st.stored++;
    const deposit: Deposit = {
      messageId,
      keyId: pkg.header.keyId,
      contentKey: contentKey.toString('base64url'),
      owner: r.owner,
      sender: r.sender,
      senderDisplay: r.senderDisplay,
      recordedAt: now,
      durationMs: pkg.header.durationMs,
      codec: r.codec,
      rights: { ...r.rights, mayModify: false },
      package: pkg.bytes.toString('base64'),
    };
    contentKey.fill(0);
    const delays = this.o.retryDelaysMs ?? [1000, 2000, 4000, 8000, 16000];
    for (let attempt = 0; ; attempt++) {
      try {
        await this.o.licence.deposit(deposit);
        break;
      } catch (err) {
        const status = (err as { statusCode?: number }).statusCode;
        // A refusal (4xx) will not change on a retry; a transport failure or 5xx may.
        if (attempt >= delays.length || (status !== undefined && status >= 400 && status < 500)) {
          this.st.depositFailed++;
          this.o.store.remove(messageId);
          this.o.logger?.error({ ...log, err: (err as Error).message, status }, 'media: the licence server did not take the key; the message was removed');
          return undefined;
        }
        await new Promise((res) => setTimeout(res, delays[attempt]).unref());
      }
    }
    this.st.deposited++;
    const waiting = this.#index(r.owner, messageId);
    this.o.logger?.info({ ...log, durationMs: pkg.header.durationMs, rights: r.rights }, 'media: message stored and deposited');
    await this.o.notify({ owner: r.owner, messageId, senderDisplay: r.senderDisplay, recordedAt: now, durationMs: pkg.header.durationMs, waiting }).catch((err: Error) =>
      this.o.logger?.warn({ ...log, err: err.message }, 'media: notification failed'),
    );
    return messageId;
  }
}
