/**
 * H.248.1 Annex B (RFC 3525) token names: every token has a long and a
 * compact spelling, both accepted on input, case-insensitively. Output uses
 * the compact spelling (see docs/h248.md).
 */

const PAIRS: readonly (readonly [string, string])[] = [
  ['Add', 'A'], ['Audit', 'AT'], ['AuditCapability', 'AC'], ['AuditValue', 'AV'], ['Authentication', 'AU'],
  ['Both', 'B'], ['Bothway', 'BW'], ['Brief', 'BR'], ['Buffer', 'BF'], ['Context', 'C'], ['ContextAudit', 'CA'],
  ['ContextAttr', 'CT'], ['ContextList', 'CLT'], ['DigitMap', 'DM'], ['SPADirection', 'SPADI'], ['Disconnected', 'DC'],
  ['Delay', 'DL'], ['Duration', 'DR'], ['Embed', 'EM'], ['Emergency', 'EG'], ['EmergencyOff', 'EGO'],
  ['EmergencyValue', 'EGV'], ['Error', 'ER'], ['EventBuffer', 'EB'], ['Events', 'E'], ['External', 'EX'],
  ['Failover', 'FL'], ['Forced', 'FO'], ['Graceful', 'GR'], ['HandOff', 'HO'], ['IEPSCall', 'IEPS'],
  ['ImmAckRequired', 'IA'], ['Inactive', 'IN'], ['Internal', 'IT'], ['Intersignal', 'SPAIS'], ['Isolate', 'IS'],
  ['InService', 'IV'], ['IntByEvent', 'IBE'], ['IntBySigDescr', 'IBS'], ['Iteration', 'IR'], ['KeepActive', 'KA'],
  ['Local', 'L'], ['LocalControl', 'O'], ['LockStep', 'SP'], ['Loopback', 'LB'], ['Media', 'M'], ['MEGACO', '!'],
  ['Segment', 'SM'], ['Method', 'MT'], ['MgcIdToTry', 'MG'], ['Mode', 'MO'], ['Modify', 'MF'], ['Modem', 'MD'],
  ['Move', 'MV'], ['Mux', 'MX'], ['NeverNotify', 'NBNN'], ['Notify', 'N'], ['NotifyCompletion', 'NC'],
  ['ImmediateNotify', 'NBIN'], ['RegulatedNotify', 'NBRN'], ['Nx64Kservice', 'N64'], ['ObservedEvents', 'OE'],
  ['Oneway', 'OW'], ['OnewayBoth', 'OWB'], ['OnewayExternal', 'OWE'], ['OnOff', 'OO'], ['OtherReason', 'OR'],
  ['OutOfService', 'OS'], ['Packages', 'PG'], ['Pending', 'PN'], ['Priority', 'PR'], ['Profile', 'PF'],
  ['Reason', 'RE'], ['ReceiveOnly', 'RC'], ['Reply', 'P'], ['ResetEventsDescriptor', 'RSE'], ['Restart', 'RS'],
  ['Remote', 'R'], ['SPARequestID', 'SPARQ'], ['ReservedGroup', 'RG'], ['ReservedValue', 'RV'], ['END', '&'],
  ['SendOnly', 'SO'], ['SendReceive', 'SR'], ['Services', 'SV'], ['ServiceStates', 'SI'],
  ['ServiceChangeInc', 'SIC'], ['ServiceChange', 'SC'], ['ServiceChangeAddress', 'AD'], ['SignalList', 'SL'],
  ['Signals', 'SG'], ['SignalType', 'SY'], ['Statistics', 'SA'], ['Stream', 'ST'], ['Subtract', 'S'],
  ['SynchISDN', 'SN'], ['TerminationState', 'TS'], ['Test', 'TE'], ['TimeOut', 'TO'], ['Topology', 'TP'],
  ['Transaction', 'T'], ['TransactionResponseAck', 'K'], ['Version', 'V'],
];

const CANONICAL = new Map<string, string>();
/** Both spellings as written here and in upper case (what keyswitch and most peers send): found without a lower-cased copy. */
const AS_WRITTEN = new Map<string, string>();
const COMPACT = new Map<string, string>();
for (const [long, short] of PAIRS) {
  CANONICAL.set(long.toLowerCase(), long);
  CANONICAL.set(short.toLowerCase(), long);
  for (const w of [long, short, long.toUpperCase(), short.toUpperCase()]) AS_WRITTEN.set(w, long);
  COMPACT.set(long, short);
}

/** Characters a token's spelling holds: letters, digits (`N64`), `!` (MEGACO) and `&` (END). */
const TOKEN_CHAR = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) TOKEN_CHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN_CHAR[c] = TOKEN_CHAR[c + 0x20] = 1;
TOKEN_CHAR[0x21] = TOKEN_CHAR[0x26] = 1;
const LONGEST = Math.max(...PAIRS.map(([long]) => long.length));

/**
 * The long spelling of a token written in either form, or undefined if `word` is no token. Every parsed
 * name comes here: a package name (`ks/idc`) or a value-like word is refused by its characters, before it
 * is hashed or copied; a token in a mixed case of its own is lower-cased and looked up as before.
 */
export function canonicalToken(word: string): string | undefined {
  // the characters first: a name that cannot be a token is not hashed for a lookup
  if (word.length > LONGEST) return undefined;
  for (let i = 0; i < word.length; i++) {
    const c = word.charCodeAt(i);
    if (c >= 128 || TOKEN_CHAR[c] !== 1) return undefined;
  }
  return AS_WRITTEN.get(word) ?? CANONICAL.get(word.toLowerCase());
}

/** The compact spelling of a long token name; other names are returned unchanged. */
export function compactToken(name: string): string {
  // every long spelling starts with a capital: a package or parameter name (`ks/idc`) is not looked up
  const c = name.charCodeAt(0);
  return c >= 0x41 && c <= 0x5a ? COMPACT.get(name) ?? name : name;
}

export const COMMAND_NAMES = ['Add', 'Move', 'Modify', 'Subtract', 'AuditValue', 'AuditCapability', 'Notify', 'ServiceChange'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];
export const isCommandName = (t: string | undefined): t is CommandName => t !== undefined && (COMMAND_NAMES as readonly string[]).includes(t);
