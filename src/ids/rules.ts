/**
 * The rule file (docs/ids.md, config/ids-rules.xml, config/ids-rules.xsd):
 * read, validated and compiled once per load, so that inspecting a message
 * costs set lookups, a counter and at most one precompiled RegExp per rule.
 *
 * The file is hostile input as far as the parser goes: a size cap, no DTD at
 * all (so no entity can expand: billion laughs, external entities), entity
 * processing off in fast-xml-parser, caps on rules and patterns, and patterns
 * are literal text (escaped into one alternation, so no rule can be a ReDoS).
 * Every error names the line, the rule and the field.
 */
import { BlockList, isIP } from 'node:net';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { AuthMechanism, BlockScope, IdsProtocol } from './types.js';

export const RULE_TYPES = ['flood', 'brute-force', 'scan', 'injection', 'malformed', 'scanner-signature', 'dialog'] as const;
export type RuleType = (typeof RULE_TYPES)[number];
export type Per = 'flow' | 'address' | 'identity' | 'global';

const PROTOCOLS: readonly IdsProtocol[] = ['sip', 'mgcp', 'h248', 'h323', 'http'];
const MECHANISMS: readonly AuthMechanism[] = ['ks1', 'digest', 'h235', 'app-hmac', 'http'];
const ACTIONS = ['log', 'count', 'drop', 'answer', 'block'] as const;

export const LIMITS = {
  fileBytes: 1 << 20,
  rules: 1000,
  patterns: 500,
  patternChars: 256,
  number: 1_000_000_000,
  intervalSeconds: 7 * 86_400,
  /** Every ban expires: at most 30 days. */
  blockSeconds: 30 * 86_400,
  whiteListEntries: 1000,
} as const;

export interface RuleActions {
  log: boolean;
  count: boolean;
  drop: boolean;
  answer: { status: 403 | 503; retryAfter: number | undefined } | undefined;
  block: { scope: BlockScope; ms: number } | undefined;
}

export interface WhiteList {
  identities: ReadonlySet<string>;
  links: ReadonlySet<string>;
  addresses: BlockList | undefined;
}

export interface CompiledRule {
  readonly index: number;
  readonly name: string;
  readonly type: RuleType;
  readonly line: number;
  readonly protocols: ReadonlySet<string> | undefined;
  readonly methods: ReadonlySet<string> | undefined;
  /** Threshold: fire when `number` matches (distinct identities for scan) within `intervalMs`; 0 = every match. */
  readonly number: number;
  readonly intervalMs: number;
  readonly per: Per;
  readonly reason: string;
  readonly actions: RuleActions;
  readonly white: WhiteList | undefined;
  readonly mechanisms: ReadonlySet<string> | undefined;
  /** injection: the literal patterns as one case-insensitive alternation. */
  readonly pattern: RegExp | undefined;
  /** injection: the event fields scanned (undefined: all). */
  readonly fields: readonly string[] | undefined;
  /** scanner-signature */
  readonly userAgent: RegExp | undefined;
  readonly from: RegExp | undefined;
  /** `<except>good-record</except>`: not counted for a flow that authenticated successfully. */
  readonly exceptGood: boolean;
}

export interface RuleSet {
  readonly rules: readonly CompiledRule[];
  readonly white: WhiteList | undefined;
  /** A new number per load: partners reset their counters when it changes. */
  readonly version: number;
  readonly source: string;
}

export class RuleFileError extends Error {
  constructor(
    message: string,
    readonly line?: number,
    readonly rule?: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

let versions = 0;

const ARRAYS = new Set(['rule', 'sip-method', 'method', 'command', 'protocol', 'action', 'identity', 'link', 'address', 'mechanism', 'pattern', 'field', 'user-agent', 'from']);

/** Parses and compiles a rule file's text; throws RuleFileError naming line, rule and field. */
export function compileRules(text: string, source = 'rules'): RuleSet {
  if (Buffer.byteLength(text) > LIMITS.fileBytes) throw new RuleFileError(`${source}: larger than ${LIMITS.fileBytes} bytes`);
  // No DTD at all: no entity can be declared, so none can expand.
  const dtd = /<!(DOCTYPE|ENTITY)/i.exec(text);
  if (dtd) throw new RuleFileError(`${source}:${lineAt(text, dtd.index)}: a DOCTYPE or ENTITY declaration is not allowed`, lineAt(text, dtd.index));
  const valid = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (valid !== true) throw new RuleFileError(`${source}:${valid.err.line}: ${valid.err.msg}`, valid.err.line);
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    processEntities: false,
    htmlEntities: false,
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: true,
    ignoreDeclaration: true,
    ignorePiTags: true,
    maxNestedTags: 16,
    isArray: (name) => ARRAYS.has(name),
  });
  const doc = parser.parse(text) as Record<string, unknown>;
  const root = doc['ids-rules'] as Record<string, unknown> | undefined;
  if (!root || typeof root !== 'object') throw new RuleFileError(`${source}:1: the root element must be <ids-rules>`, 1);
  const lines = ruleLines(text);
  const rawRules = (root['rule'] as unknown[] | undefined) ?? [];
  if (rawRules.length > LIMITS.rules) throw new RuleFileError(`${source}: more than ${LIMITS.rules} rules`);
  const white = root['white-list'] === undefined ? undefined : whiteList(root['white-list'], { source, line: lineOfTag(text, 'white-list'), rule: '(file)' });
  const names = new Set<string>();
  const rules = rawRules.map((r, i) => {
    const at = { source, line: lines[i] ?? 0, rule: `#${i + 1}` };
    const rule = compileRule(r, i, at);
    if (names.has(rule.name)) throw err(at, 'name', `a rule named "${rule.name}" already exists`);
    names.add(rule.name);
    return rule;
  });
  return { rules, white, version: ++versions, source };
}

interface At {
  source: string;
  line: number;
  rule: string;
}

function err(at: At, field: string, msg: string): RuleFileError {
  return new RuleFileError(`${at.source}:${at.line}: rule ${at.rule}, <${field}>: ${msg}`, at.line, at.rule, field);
}

function compileRule(raw: unknown, index: number, at: At): CompiledRule {
  if (!raw || typeof raw !== 'object') throw err(at, 'rule', 'must be an element with a name and a type');
  const r = raw as Record<string, unknown>;
  const name = attr(r, 'name');
  if (!name) throw err(at, 'name', 'the name attribute is required');
  if (name.length > 128) throw err(at, 'name', 'at most 128 characters');
  at = { ...at, rule: `"${name}"` };
  const type = attr(r, 'type') as RuleType | undefined;
  if (!type || !(RULE_TYPES as readonly string[]).includes(type)) throw err(at, 'type', `must be one of ${RULE_TYPES.join(', ')}`);
  for (const k of Object.keys(r)) {
    if (!k.startsWith('@') && !KNOWN_CHILDREN.has(k)) throw err(at, k, 'unknown element');
  }
  const protocols = set(r['protocol'], at, 'protocol', (v) => ((PROTOCOLS as readonly string[]).includes(v) ? v : undefined), `one of ${PROTOCOLS.join(', ')}`);
  const methodList = [...list(r['sip-method'], at, 'sip-method', 'method'), ...list(r['method'], at, 'method', 'name'), ...list(r['command'], at, 'command', 'name')];
  for (const m of methodList) if (!/^[A-Za-z0-9_.\-/]{1,32}$/.test(m)) throw err(at, 'method', `"${m}" is not a method or command name`);
  const methods = methodList.length ? new Set(methodList.map((m) => m.toUpperCase())) : undefined;
  const needsThreshold = type === 'flood' || type === 'brute-force' || type === 'scan';
  const number = int(r['number'], at, 'number', needsThreshold ? undefined : 0, 1, LIMITS.number);
  const interval = int(r['interval'], at, 'interval', number > 0 ? undefined : 0, number > 0 ? 1 : 0, LIMITS.intervalSeconds);
  const perText = text(r['per'], at, 'per') ?? (type === 'brute-force' || type === 'scan' ? 'address' : 'flow');
  if (!['flow', 'address', 'identity', 'global'].includes(perText)) throw err(at, 'per', 'must be flow, address, identity or global');
  if (type === 'scan' && (perText === 'identity' || perText === 'global')) throw err(at, 'per', 'a scan is counted per flow or per address');
  const alert = r['alert'];
  const reason = (alert && typeof alert === 'object' ? attr(alert as Record<string, unknown>, 'content') : undefined) ?? name;
  if (reason.length > 256) throw err(at, 'alert', 'content: at most 256 characters');
  const actions = compileActions(r['action'], at);
  const white = r['white-list'] === undefined ? undefined : whiteList(r['white-list'], at);
  const mechanisms = set(r['mechanism'], at, 'mechanism', (v) => ((MECHANISMS as readonly string[]).includes(v) ? v : undefined), `one of ${MECHANISMS.join(', ')}`);
  const patterns = strings(r['pattern'], at, 'pattern');
  if (type === 'injection' && patterns.length === 0) throw err(at, 'pattern', 'an injection rule needs at least one pattern');
  const fields = strings(r['field'], at, 'field');
  const except = text(r['except'], at, 'except');
  if (except !== undefined && except !== 'good-record') throw err(at, 'except', 'only good-record is known');
  const uas = strings(r['user-agent'], at, 'user-agent');
  const froms = strings(r['from'], at, 'from');
  if (type === 'scanner-signature' && uas.length + froms.length === 0) throw err(at, 'user-agent', 'a scanner signature needs a <user-agent> or a <from>');
  return {
    index, name, type, line: at.line, protocols, methods, number, intervalMs: interval * 1000, per: perText as Per, reason, actions, white, mechanisms,
    pattern: patterns.length ? literals(patterns) : undefined,
    fields: fields.length ? fields : undefined,
    userAgent: uas.length ? literals(uas) : undefined,
    from: froms.length ? literals(froms) : undefined,
    exceptGood: except === 'good-record',
  };
}

const KNOWN_CHILDREN = new Set(['protocol', 'sip-method', 'method', 'command', 'number', 'interval', 'per', 'alert', 'action', 'white-list', 'mechanism', 'pattern', 'field', 'user-agent', 'from', 'except']);

function compileActions(raw: unknown, at: At): RuleActions {
  const a: RuleActions = { log: false, count: false, drop: false, answer: undefined, block: undefined };
  const items = (raw as unknown[] | undefined) ?? [];
  if (items.length === 0) return { ...a, log: true, count: true };
  for (const it of items) {
    const o = (it && typeof it === 'object' ? it : {}) as Record<string, unknown>;
    const type = attr(o, 'type');
    if (!type || !(ACTIONS as readonly string[]).includes(type)) throw err(at, 'action', `type must be one of ${ACTIONS.join(', ')}`);
    if (type === 'log') a.log = true;
    else if (type === 'count') a.count = true;
    else if (type === 'drop') a.drop = true;
    else if (type === 'answer') {
      const status = Number(attr(o, 'status') ?? '403');
      if (status !== 403 && status !== 503) throw err(at, 'action', 'answer: status must be 403 or 503');
      const ra = attr(o, 'retry-after');
      const retryAfter = ra === undefined ? undefined : Number(ra);
      if (retryAfter !== undefined && !(Number.isInteger(retryAfter) && retryAfter >= 0 && retryAfter <= 86_400)) throw err(at, 'action', 'answer: retry-after must be 0-86400 seconds');
      a.answer = { status, retryAfter };
    } else {
      const scope = attr(o, 'scope') ?? 'flow';
      if (!['flow', 'address', 'identity'].includes(scope)) throw err(at, 'action', 'block: scope must be flow, address or identity');
      const seconds = Number(attr(o, 'seconds'));
      if (!(Number.isInteger(seconds) && seconds >= 1 && seconds <= LIMITS.blockSeconds)) throw err(at, 'action', `block: seconds is required, 1-${LIMITS.blockSeconds} (every ban expires)`);
      a.block = { scope: scope as BlockScope, ms: seconds * 1000 };
    }
  }
  // Every detection is recorded, whatever else the rule does: a log line and its count.
  a.log = true;
  a.count = true;
  return a;
}

function whiteList(raw: unknown, at: At): WhiteList {
  const o = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['identity', 'link', 'address'].includes(k)) throw err(at, 'white-list', `unknown element <${k}>`);
  const ids = strings(o['identity'], at, 'white-list/identity');
  const links = strings(o['link'], at, 'white-list/link');
  const addrs = strings(o['address'], at, 'white-list/address');
  if (ids.length + links.length + addrs.length > LIMITS.whiteListEntries) throw err(at, 'white-list', `at most ${LIMITS.whiteListEntries} entries`);
  let addresses: BlockList | undefined;
  for (const cidr of addrs) {
    const [net, bits] = cidr.split('/');
    const family = isIP(net ?? '');
    if (family === 0) throw err(at, 'white-list/address', `"${cidr}" is not an address or CIDR`);
    const max = family === 4 ? 32 : 128;
    const prefix = bits === undefined ? max : Number(bits);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) throw err(at, 'white-list/address', `"${cidr}": bad prefix length`);
    addresses ??= new BlockList();
    addresses.addSubnet(net!, prefix, family === 4 ? 'ipv4' : 'ipv6');
  }
  return { identities: new Set(ids.map((s) => s.toLowerCase())), links: new Set(links), addresses };
}

function attr(o: Record<string, unknown>, name: string): string | undefined {
  const v = o[`@${name}`];
  return typeof v === 'string' ? predefined(v.trim()) : undefined;
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/**
 * The five predefined entities and character references, in one pass: the
 * parser's entity processing is off, and nothing here can expand into more
 * than one character.
 */
function predefined(v: string): string {
  if (!v.includes('&')) return v;
  return v.replace(/&(lt|gt|amp|quot|apos|#\d{1,7}|#x[0-9a-fA-F]{1,6});/g, (m, e: string) => {
    if (e[0] !== '#') return PREDEFINED[e]!;
    const code = e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : m;
  });
}

/** Text of an element that may appear once. */
function text(raw: unknown, at: At, field: string): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw === 'string') return raw.trim();
  if (typeof raw === 'number') return String(raw);
  throw err(at, field, 'must be text');
}

function int(raw: unknown, at: At, field: string, dflt: number | undefined, min: number, max: number): number {
  const t = text(raw, at, field);
  if (t === undefined) {
    if (dflt === undefined) throw err(at, field, 'is required for this rule type');
    return dflt;
  }
  if (!/^\d{1,10}$/.test(t)) throw err(at, field, `"${t}" is not a whole number`);
  const n = Number(t);
  if (n < min || n > max) throw err(at, field, `must be ${min}-${max}`);
  return n;
}

/** Texts of a repeated element (elements with attributes give their text as `#text`). */
function strings(raw: unknown, at: At, field: string): string[] {
  const items = (raw as unknown[] | undefined) ?? [];
  if (items.length > LIMITS.patterns) throw err(at, field, `at most ${LIMITS.patterns}`);
  return items.map((it) => {
    const v = typeof it === 'string' ? it : it && typeof it === 'object' ? (it as Record<string, unknown>)['#text'] : undefined;
    if (typeof v !== 'string' || v.trim() === '') throw err(at, field, 'must be non-empty text');
    if (v.length > LIMITS.patternChars) throw err(at, field, `at most ${LIMITS.patternChars} characters`);
    return predefined(v.trim());
  });
}

/** Values of an attribute on a repeated empty element (`<sip-method method="INVITE"/>`). */
function list(raw: unknown, at: At, field: string, name: string): string[] {
  const items = (raw as unknown[] | undefined) ?? [];
  return items.map((it) => {
    const v = it && typeof it === 'object' ? attr(it as Record<string, unknown>, name) : typeof it === 'string' && it.trim() ? it.trim() : undefined;
    if (!v) throw err(at, field, `the ${name} attribute is required`);
    return v;
  });
}

function set(raw: unknown, at: At, field: string, check: (v: string) => string | undefined, expected: string): Set<string> | undefined {
  const items = strings(raw, at, field);
  if (items.length === 0) return undefined;
  return new Set(
    items.map((v) => {
      const ok = check(v.toLowerCase());
      if (!ok) throw err(at, field, `"${v}": must be ${expected}`);
      return ok;
    }),
  );
}

/** Literal texts as one case-insensitive alternation: linear matching, nothing to backtrack into. */
function literals(items: string[]): RegExp {
  return new RegExp(items.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'i');
}

function lineAt(text: string, index: number): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** Comments blanked (newlines kept), so that a commented-out rule does not shift the count. */
function uncommented(text: string): string {
  return text.replace(/<!--[\s\S]*?-->/g, (c) => c.replace(/[^\n]/g, ' '));
}

function ruleLines(text: string): number[] {
  const t = uncommented(text);
  const out: number[] = [];
  const re = /<rule[\s>/]/g;
  for (let m = re.exec(t); m && out.length <= LIMITS.rules; m = re.exec(t)) out.push(lineAt(t, m.index));
  return out;
}

function lineOfTag(text: string, tag: string): number {
  const i = uncommented(text).indexOf(`<${tag}`);
  return i < 0 ? 0 : lineAt(text, i);
}
