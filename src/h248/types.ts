import type { CommandName } from './tokens.js';

/**
 * Typed H.248 text messages. The envelope (header, transactions, actions,
 * commands, errors) is typed; descriptors are a generic tree of `Item`s,
 * read and built with the helpers in descriptors.ts.
 */

export type ContextId = number | '-' | '$' | '*';
export type RelOp = '=' | '>' | '<' | '#';

/** One element of a descriptor tree: `name [op value] [{ children }]`. */
export interface Item {
  /** As written (parsed) or as given (built). Long token names are written in compact form. */
  name: string;
  /** Long token name when `name` is an Annex B token (either spelling), for matching. */
  token?: string;
  op?: RelOp;
  /** The value after `op`, quotes removed. */
  value?: string;
  /** Write (or was written) as a quotedString. */
  quoted?: boolean;
  /** `[a,b]` (and), `{a,b}` (or), `[a:b]` (range) value forms. */
  list?: { kind: 'and' | 'or' | 'range'; values: string[] };
  children?: Item[];
  /** A quotedString standing alone in braces (error text), or the raw body of Local/Remote/DigitMap. */
  text?: string;
  /** ObservedEvents timestamp `yyyymmddThhmmssss` written before the event name. */
  timestamp?: string;
}

export interface ErrorDescriptor {
  code: number;
  text?: string;
}

export interface Command {
  name: CommandName;
  /** One termination id, or several from a `[a,b]` list. */
  terminations: string[];
  optional?: boolean; // O-
  wildcard?: boolean; // W-
  descriptors: Item[];
}

export interface Action {
  context: ContextId;
  commands: Command[];
  /** Context properties / audit (topology, priority…), kept as items. */
  properties?: Item[];
  /** Error descriptor of an action reply. */
  error?: ErrorDescriptor;
}

export interface TransactionRequest {
  type: 'request';
  id: number;
  actions: Action[];
}
export interface TransactionReply {
  type: 'reply';
  id: number;
  immAck?: boolean;
  error?: ErrorDescriptor;
  actions: Action[];
}
export interface TransactionPending {
  type: 'pending';
  id: number;
}
export interface TransactionAck {
  type: 'ack';
  /** Inclusive ranges of acknowledged transaction ids. */
  ranges: [number, number][];
}
export type Transaction = TransactionRequest | TransactionReply | TransactionPending | TransactionAck;

/** Annex B authentication header `AU=0x<SPI>:0x<Seq>:0x<AuthData>`. */
export interface AuthHeader {
  spi: number;
  seq: number;
  data: Buffer;
}

export interface H248Message {
  version: number;
  /** mId as written: `[192.0.2.1]:2944`, `<mg1.example>:2944`, a device name, or `MTP{…}`. */
  mid: string;
  auth?: AuthHeader;
  /** A message-level error descriptor (messageBody = errorDescriptor), else transactions. */
  error?: ErrorDescriptor;
  transactions: Transaction[];
}

/** A parsed message plus where its `message` part starts (what Annex B's AuthData covers). */
export interface ParsedMessage extends H248Message {
  bodyOffset: number;
}

export type ParseResult = { ok: true; message: ParsedMessage } | { ok: false; error: ParseError };

export interface ParseError {
  /** H.248.8 code to answer with: 400 syntax error in message, 403 syntax error in transaction, 406 version. */
  code: number;
  reason: string;
  /** Byte offset where parsing stopped. */
  at: number;
  /** Set when the header parsed: who sent it, so an error message can be addressed. */
  looksLikeH248: boolean;
}

export const MAX_MESSAGE_BYTES = 65507;
