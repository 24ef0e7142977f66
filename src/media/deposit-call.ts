/**
 * One caller leaving a message (docs/voicemail.md, "Deposit"): greeting,
 * recording until `#`, silence, the length limit, a hung-up or silent line,
 * then the menu — review, re-record, and the rights of this message. The
 * recording stays in memory; `finish` hands it over once, to be sealed, and
 * the buffers are zeroed after.
 */
import { g711Level, g711Silence, type G711, type RtpPacket } from '../rtp/index.js';
import { DtmfReceiver } from './dtmf.js';
import type { PackageRights } from '../contracts/voicemail-package.js';
import { prompt, type PromptName } from './prompts.js';
import { packetize, type RtpChannel } from './rtp-channel.js';

export interface DepositLimits {
  maxRecordMs: number;
  /** This long without sound ends the recording. */
  silenceMs: number;
  /** This long without any RTP from the caller ends the call (a hung caller). */
  rtpTimeoutMs: number;
  /** The menu waits this long for a key, then saves. */
  menuTimeoutMs: number;
  maxDtmfPerSecond: number;
  /** Mean absolute amplitude (16-bit linear) below which a packet is silence. */
  silenceLevel: number;
}

export type EndReason = 'hash' | 'silence' | 'max-length' | 'bye' | 'rtp-timeout' | 'saved' | 'discarded' | 'menu-timeout';

export interface Recording {
  audio: Buffer;
  rights: PackageRights;
  reason: EndReason;
}

type State = 'waiting' | 'greeting' | 'recording' | 'menu' | 'done';

export class DepositCall {
  #state: State = 'waiting';
  #chunks: Buffer[] = [];
  #bytes = 0;
  #quietSince = 0;
  #pendingKey: '4' | '5' | undefined;
  #menuTimer: NodeJS.Timeout | undefined;
  #watch: NodeJS.Timeout | undefined;
  readonly #dtmf: DtmfReceiver;
  readonly rights: PackageRights;
  /** Keys pressed (taken), for the logs and tests. */
  readonly keys: string[] = [];

  constructor(
    private readonly o: {
      codec: G711;
      audioPt: number;
      eventPt: number | undefined;
      channel: RtpChannel;
      limits: DepositLimits;
      defaults: PackageRights;
      /** Send BYE (the media server ends the call). */
      hangup: () => void;
      /** Called once with the recording (undefined: nothing to keep). */
      finish: (r: Recording | undefined) => void;
      /** Played before recording instead of the generated greeting (the called party's recorded name, then a beep). */
      greeting?: Buffer;
      /** false: no menu — the recording is saved as it ends (a subscriber recording its name). */
      menu?: boolean;
      now?: () => number;
    },
  ) {
    this.rights = { ...o.defaults };
    this.#dtmf = new DtmfReceiver(o.limits.maxDtmfPerSecond, o.now);
  }

  get state(): State {
    return this.#state;
  }

  get dtmfDropped(): number {
    return this.#dtmf.dropped;
  }

  #now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** After the ACK: greeting, then recording. */
  start(): void {
    if (this.#state !== 'waiting') return;
    this.#state = 'greeting';
    this.#watch = setInterval(() => this.#check(), 250);
    this.#watch.unref();
    void (this.o.greeting ? this.#playAudio(this.o.greeting) : this.#play('greeting')).then(() => {
      if (this.#state === 'greeting') this.#record();
    });
  }

  onPacket(p: RtpPacket): void {
    if (this.#state === 'done') return;
    if (this.o.eventPt !== undefined && p.payloadType === this.o.eventPt) {
      const d = this.#dtmf.onPayload(p.timestamp, p.payload);
      if (d !== undefined) this.#key(d);
      return;
    }
    if (p.payloadType !== this.o.audioPt || this.#state !== 'recording') return;
    const room = Math.floor((this.o.limits.maxRecordMs * 8) - this.#bytes);
    const take = p.payload.length <= room ? p.payload : p.payload.subarray(0, Math.max(0, room));
    if (take.length > 0) {
      this.#chunks.push(Buffer.from(take));
      this.#bytes += take.length;
    }
    if (g711Level(this.o.codec, p.payload) >= this.o.limits.silenceLevel) this.#quietSince = this.#now();
    if (this.#bytes >= this.o.limits.maxRecordMs * 8) this.#toMenu();
  }

  /** The caller hung up (BYE) or the dialog ended otherwise. */
  ended(): void {
    this.#end('bye');
  }

  #check(): void {
    if (this.#state === 'done') return;
    const t = this.#now();
    if (t - this.o.channel.lastHeard > this.o.limits.rtpTimeoutMs) {
      this.#end('rtp-timeout');
      this.o.hangup();
      return;
    }
    if (this.#state === 'recording' && t - this.#quietSince > this.o.limits.silenceMs) this.#toMenu();
  }

  #record(): void {
    this.#state = 'recording';
    this.#quietSince = this.#now();
  }

  #toMenu(): void {
    if (this.#state !== 'recording') return;
    if (this.o.menu === false) {
      this.#end('saved');
      void this.#play('saved').then(() => this.o.hangup());
      return;
    }
    this.#state = 'menu';
    this.#menu();
  }

  #menu(): void {
    this.#armMenuTimer();
    void this.#play('menu');
  }

  #armMenuTimer(): void {
    if (this.#menuTimer) clearTimeout(this.#menuTimer);
    this.#menuTimer = setTimeout(() => {
      if (this.#state !== 'menu') return;
      this.#end('menu-timeout');
      this.o.hangup();
    }, this.o.limits.menuTimeoutMs);
    this.#menuTimer.unref();
  }

  #key(d: string): void {
    this.keys.push(d);
    if (this.#state === 'recording') {
      if (d === '#') this.#toMenu();
      return;
    }
    if (this.#state !== 'menu') return;
    this.#armMenuTimer();
    this.o.channel.clear();
    if (this.#pendingKey) {
      const which = this.#pendingKey;
      this.#pendingKey = undefined;
      if (!/^[0-9]$/.test(d)) return void this.#play('error');
      if (which === '4') this.rights.maxPlays = Number(d);
      else this.rights.expiresDays = Number(d);
      return void this.#play('ok');
    }
    switch (d) {
      case '1':
        void this.#playAudio(Buffer.concat(this.#chunks)).then(() => this.#state === 'menu' && void this.#play('menu'));
        return;
      case '2':
        this.#chunks = [];
        this.#bytes = 0;
        void this.#play('beep').then(() => this.#state === 'menu' && this.#record());
        return;
      case '3':
        this.rights.mayForward = false;
        return void this.#play('ok');
      case '4':
      case '5':
        this.#pendingKey = d;
        return;
      case '#':
        this.#end('saved');
        void this.#play('saved').then(() => this.o.hangup());
        return;
      case '*':
        this.#end('discarded');
        this.o.hangup();
        return;
      default:
        void this.#play('error');
    }
  }

  #end(reason: EndReason): void {
    if (this.#state === 'done') return;
    this.#state = 'done';
    if (this.#menuTimer) clearTimeout(this.#menuTimer);
    if (this.#watch) clearInterval(this.#watch);
    const audio = reason === 'discarded' || this.#bytes === 0 ? undefined : Buffer.concat(this.#chunks, this.#bytes);
    for (const c of this.#chunks) c.fill(0);
    this.#chunks = [];
    this.#bytes = 0;
    this.o.finish(audio ? { audio, rights: { ...this.rights }, reason } : undefined);
  }

  #play(name: PromptName): Promise<void> {
    return this.#playAudio(prompt(name, this.o.codec));
  }

  #playAudio(audio: Buffer): Promise<void> {
    return this.o.channel.play(packetize(audio, g711Silence(this.o.codec)), this.o.audioPt);
  }
}
