/**
 * The hooks a role plugs into the SIP proxy core (docs/sip-stack.md, Proxy core). The core
 * owns the RFC 3261 §16 mechanics; a role is the core plus its policies, given as these hooks.
 * Codec level: nothing here knows a role.
 */
import type { SipMessage, SipRequest, SipResponse } from '../message.js';
import type { MessageSource } from '../transport/types.js';

export type { MessageSource } from '../transport/types.js';

/**
 * What `onInbound` decides for a message before the transaction layer sees it. A `drop`
 * sends nothing; a `reject` answers a request (never an ACK) to its source only, without a
 * transaction, with `Retry-After` when given; a response is dropped instead.
 */
export type InboundVerdict =
  | { kind: 'pass' }
  | { kind: 'drop'; reason: string }
  | { kind: 'reject'; status: number; reason: string; retryAfter?: number };

/** The verdict that lets a message through: one object, nothing allocated per message. */
export const PASS: InboundVerdict = Object.freeze({ kind: 'pass' }) as InboundVerdict;

/**
 * Called synchronously for every message that parsed, before retransmission matching and
 * before any transaction exists: the place for source blocks, intrusion detection, overload
 * gates and checks that must stop a forged response before it reaches a client transaction.
 */
export type OnInbound = (msg: SipMessage, src: MessageSource) => InboundVerdict;

/** Where a request is forwarded: a next hop the core sends to. */
export interface ForwardTarget {
  /** Sent over this transport (one of the stack's). */
  address: string;
  port: number;
  protocol?: 'udp' | 'tcp' | 'tls';
  connection?: MessageSource['connection'];
}

/** A request a role decided to forward (what `onForward` may still edit before it leaves). */
export interface ForwardContext {
  readonly request: SipRequest;
  readonly source: MessageSource;
  readonly target: ForwardTarget;
}

/** A response on its way back upstream (what `onResponse` may edit or swallow). */
export interface ResponseContext {
  readonly request: SipRequest;
  readonly source: MessageSource | undefined;
}

/**
 * What the core answers to a request whose handling failed, as `onError` decides it: a final
 * answer made here, with `Retry-After` (seconds) and a Warning text when given.
 */
export interface ErrorAnswer {
  status: number;
  retryAfter?: number | undefined;
  warning?: string | undefined;
}

export interface ProxyHooks {
  onInbound?: OnInbound;
  /** A request past the transaction layer; the role answers, forwards or relays it. */
  onRequest?: (req: SipRequest, src: MessageSource) => void | Promise<void>;
  /** Last edit of a request before the core sends it (signing, header stripping). */
  onForward?: (ctx: ForwardContext) => void;
  /** A response from downstream before the core relays it; false swallows it. */
  onResponse?: (res: SipResponse, ctx: ResponseContext) => boolean | void;
  /**
   * A request's handler failed (`ProxyCore.serve`), or a stateless forward did. For a handler,
   * the answer returned is sent to the request (never to an ACK); none: the error goes on to the
   * stack, which answers 500 and reports it. The role's policy: a shared store out of reach is
   * 503 with Retry-After, not 500.
   */
  onError?: (err: unknown, msg: SipMessage | undefined) => ErrorAnswer | void;
}
