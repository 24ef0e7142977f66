/**
 * What roles running in the same process as the AuC offer its operator API
 * (docs/operations.md): under `keyswitch up` the API lists and lifts the
 * SBC's blocks and drops its sessions at once. Roles run apart are reached
 * through the shared store instead (src/store/sbc-state.ts). A contract
 * between roles, so it lives outside their folders.
 *
 * `keyswitch up` runs each role in its own process: there the AuC's LiveSbc
 * asks the SBC's process over IPC (src/cli/up-child.ts), hence the answers
 * that may be promises.
 */
import type { SourceBlock, SourceFailureRecord } from '../store/sbc-state.js';

export interface LiveSbc {
  /** This SBC process (random per start): the origin of actions it applied itself. */
  readonly instance: string;
  readonly idsp: string;
  /** Blocks in force now. */
  blocks(): SourceBlock[] | Promise<SourceBlock[]>;
  /** Lifts the block of a source (and forgets its failures); false when it held none. */
  unblock(source: string): boolean | Promise<boolean>;
  /** Failures per source, most first, at most `max`. */
  sourceFailures(max: number): SourceFailureRecord[] | Promise<SourceFailureRecord[]>;
  /** Drops the session of an IDc accepted before `before` (Unix ms); false when there was none. */
  dropSession(idc: string, before: number): boolean | Promise<boolean>;
}

/** Filled in as the roles of the process start (the AuC's API starts first). */
export interface LiveRoles {
  sbc?: LiveSbc;
}
