import { canonicalToken } from './tokens.js';
import type { Command, ErrorDescriptor, Item, TransactionReply } from './types.js';

/**
 * Readers and builders for the descriptors keyswitch uses: ServiceChange
 * parameters (with `X-`/`X+` extensions), properties in TerminationState /
 * LocalControl, Events and ObservedEvents.
 */

/** extensionParameter = "X" ("-" / "+") 1*6(ALPHA / DIGIT) (RFC 3525). */
export const EXTENSION_NAME = /^X[-+][A-Za-z0-9]{1,6}$/i;

const is = (it: Item, token: string) => (it.token ?? canonicalToken(it.name)) === token;

export interface ServiceChangeParams {
  method?: string; // Restart, Failover, … or an extension
  reason?: string; // "901 Cold Boot"
  delay?: number;
  address?: string;
  profile?: string;
  version?: string;
  mgcId?: string;
  timestamp?: string;
  /** Extension parameters by name as written (case kept), value unquoted. */
  extensions: Map<string, string>;
}

/** The ServiceChange descriptor of a command (request or reply), if it has one. */
export function readServiceChange(cmd: Command): ServiceChangeParams | undefined {
  const sv = cmd.descriptors.find((d) => is(d, 'Services'));
  if (!sv) return undefined;
  const p: ServiceChangeParams = { extensions: new Map() };
  for (const it of sv.children ?? []) {
    const t = it.token ?? canonicalToken(it.name);
    if (t === 'Method') p.method = it.value ? canonicalToken(it.value) ?? it.value : undefined;
    else if (t === 'Reason') p.reason = it.value;
    else if (t === 'Delay') p.delay = it.value !== undefined && /^\d{1,10}$/.test(it.value) ? Number(it.value) : undefined;
    else if (t === 'ServiceChangeAddress') p.address = it.value;
    else if (t === 'Profile') p.profile = it.value;
    else if (t === 'Version') p.version = it.value;
    else if (t === 'MgcIdToTry') p.mgcId = it.value;
    else if (EXTENSION_NAME.test(it.name) && it.value !== undefined && it.op === '=') p.extensions.set(it.name.toUpperCase(), it.value);
    else if (/^\d{8}T\d{8}$/.test(it.name)) p.timestamp = it.name;
  }
  return p;
}

/** A Services descriptor. Reason is always a quotedString, as the ABNF requires. */
export function servicesItem(p: Partial<ServiceChangeParams>): Item {
  const kids: Item[] = [];
  if (p.method) kids.push({ name: 'Method', op: '=', value: p.method === 'Restart' ? 'RS' : p.method });
  if (p.reason !== undefined) kids.push({ name: 'Reason', op: '=', value: p.reason, quoted: true });
  if (p.delay !== undefined) kids.push({ name: 'Delay', op: '=', value: String(p.delay) });
  if (p.address) kids.push({ name: 'ServiceChangeAddress', op: '=', value: p.address });
  if (p.profile) kids.push({ name: 'Profile', op: '=', value: p.profile });
  if (p.version) kids.push({ name: 'Version', op: '=', value: p.version });
  if (p.mgcId) kids.push({ name: 'MgcIdToTry', op: '=', value: p.mgcId });
  for (const [k, v] of p.extensions ?? []) {
    if (!EXTENSION_NAME.test(k)) throw new RangeError(`not an H.248 extension parameter name: ${k}`);
    kids.push({ name: k, op: '=', value: v });
  }
  return { name: 'Services', children: kids };
}

/**
 * Property values of a command (`pkg/name` → value), from TerminationState
 * and LocalControl descriptors inside Media (and its Streams). Names are
 * lower-cased; only `=` values count.
 */
export function readProperties(cmd: Command): Map<string, string> {
  const out = new Map<string, string>();
  const take = (items: Item[] | undefined) => {
    for (const it of items ?? []) if (it.name.includes('/') && it.op === '=' && it.value !== undefined) out.set(it.name.toLowerCase(), it.value);
  };
  for (const d of cmd.descriptors) {
    if (!is(d, 'Media')) continue;
    for (const m of d.children ?? []) {
      if (is(m, 'TerminationState') || is(m, 'LocalControl')) take(m.children);
      else if (is(m, 'Stream')) for (const s of m.children ?? []) if (is(s, 'LocalControl')) take(s.children);
    }
  }
  return out;
}

/** A Media descriptor holding one TerminationState with these properties. */
export function terminationStateItem(props: Iterable<[string, string]>): Item {
  const kids: Item[] = [];
  for (const [name, value] of props) kids.push({ name, op: '=', value });
  return { name: 'Media', children: [{ name: 'TerminationState', children: kids }] };
}

/** Events descriptor asking for events (`E=<requestId>{pkg/ev,…}`). */
export function eventsItem(requestId: number, events: string[]): Item {
  return { name: 'Events', op: '=', value: String(requestId), children: events.map((name) => ({ name })) };
}

/** The requested events of a command: request id and event names (lower-cased). */
export function readEvents(cmd: Command): { requestId: number; events: string[] } | undefined {
  const e = cmd.descriptors.find((d) => is(d, 'Events'));
  if (!e || e.value === undefined || !/^\d{1,10}$/.test(e.value)) return undefined;
  return { requestId: Number(e.value), events: (e.children ?? []).map((c) => c.name.toLowerCase()) };
}

export interface ObservedEvent {
  name: string; // lower-cased pkg/event
  timestamp?: string;
  /** Parameters by lower-cased name. */
  params: Map<string, string>;
}

export function readObservedEvents(cmd: Command): { requestId: string; events: ObservedEvent[] } | undefined {
  const oe = cmd.descriptors.find((d) => is(d, 'ObservedEvents'));
  if (!oe || oe.value === undefined) return undefined;
  const events: ObservedEvent[] = (oe.children ?? []).map((c) => {
    const params = new Map<string, string>();
    for (const p of c.children ?? []) if (p.op === '=' && p.value !== undefined) params.set(p.name.toLowerCase(), p.value);
    const ev: ObservedEvent = { name: c.name.toLowerCase(), params };
    if (c.timestamp) ev.timestamp = c.timestamp;
    return ev;
  });
  return { requestId: oe.value, events };
}

export function observedEventsItem(requestId: string, events: { name: string; params: Iterable<[string, string]>; timestamp?: string }[]): Item {
  return {
    name: 'ObservedEvents',
    op: '=',
    value: requestId,
    children: events.map((e) => {
      const params = [...e.params].map(([name, value]) => ({ name, op: '=' as const, value }));
      // The ABNF has no empty parameter braces: `al/of`, not `al/of{}`.
      const it: Item = params.length ? { name: e.name, children: params } : { name: e.name };
      if (e.timestamp) it.timestamp = e.timestamp;
      return it;
    }),
  };
}

/** The first error in a reply: transaction-level, action-level, or inside a command reply. */
export function replyError(r: TransactionReply): ErrorDescriptor | undefined {
  if (r.error) return r.error;
  for (const a of r.actions) {
    if (a.error) return a.error;
    for (const c of a.commands) {
      const e = c.descriptors.find((d) => is(d, 'Error'));
      if (e && e.value !== undefined && /^\d{1,4}$/.test(e.value)) {
        const out: ErrorDescriptor = { code: Number(e.value) };
        const t = e.children?.[0]?.text;
        if (t !== undefined) out.text = t;
        return out;
      }
    }
  }
  return undefined;
}
