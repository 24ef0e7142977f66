import { fromB64u, toB64u } from '../../crypto/ks1.js';
import { parseMechanisms } from '../../flow/mechanisms.js';
import type { S1, S2, S5, S6, S7, S8, S9, S10 } from '../../flow/messages.js';
import {
  EXTENSION_NAME, eventsItem, observedEventsItem, readEvents, readObservedEvents, readProperties, readServiceChange, servicesItem,
  terminationStateItem,
} from '../../h248/descriptors.js';
import { H248_ERROR } from '../../h248/errors.js';
import { canonicalToken } from '../../h248/tokens.js';
import type { Action, Command, ErrorDescriptor, Item, TransactionRequest } from '../../h248/types.js';

/**
 * keyswitch's flow in H.248 text (docs/h248.md has the full exchange):
 *
 *   s1/s2   ServiceChange=ROOT, Method=Restart, Reason "901", with extension
 *           parameters X-KSIDC, X-KSIDSP (optional in s1), X-KSN1, X-KSTS (s1 only)
 *   s5/s6   Modify=ROOT, Media{TerminationState{ks/idc, ks/idsp, ks/rand,
 *           and in s6 ks/n1, ks/n2, ks/ts, ks/offer}}, Events=<id>{ks/auth}
 *   s7/s8   Notify=ROOT, ObservedEvents=<id>{ks/auth{…}}: s7 carries idc,
 *           [idsp], n1, n2, ts, [rand], resp, mechs; s8 idc, idsp, rand, resp, mech, ipc
 *   s9/s10  Modify=ROOT, Media{TerminationState{ks/result=ok, ks/idc, ks/idsp,
 *           s9: ks/rand, ks/ekc, ks/eksp (private);
 *           s10: ks/n1, ks/n2, ks/ts, ks/ekc, ks/mech, ks/mechs, ks/mac}}
 *
 * Bytes are unpadded base64url, `ts` decimal Unix seconds. Decoders return
 * the neutral message or the H.248 error to answer with (457 for a missing
 * field, 449 for a malformed one).
 */

export const KS_EXT = { idc: 'X-KSIDC', idsp: 'X-KSIDSP', n1: 'X-KSN1', ts: 'X-KSTS' } as const;
export const KS_AUTH_EVENT = 'ks/auth';
export const RESTART_REASON = '901 Cold Boot';

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: ErrorDescriptor };

const missing = (name: string): Decoded<never> => ({ ok: false, error: { code: H248_ERROR.missingParameter, text: `missing ${name}` } });
const malformed = (name: string): Decoded<never> => ({ ok: false, error: { code: H248_ERROR.unknownParameterValue, text: `bad ${name}` } });

/** Reads typed fields out of a name → value map, stopping at the first problem. */
class Fields {
  error: ErrorDescriptor | undefined;
  constructor(readonly src: Map<string, string>, readonly prefix: string) {}
  #fail(d: Decoded<never>): undefined {
    if (!d.ok && !this.error) this.error = d.error;
    return undefined;
  }
  raw(name: string, optional = false): string | undefined {
    const v = this.src.get(this.prefix + name);
    if (v === undefined && !optional) return this.#fail(missing(this.label(name)));
    return v;
  }
  label(name: string): string {
    return this.prefix ? this.prefix + name : `${KS_AUTH_EVENT} ${name}`;
  }
  text(name: string, optional = false): string | undefined {
    const v = this.raw(name, optional);
    if (v !== undefined && v.length === 0) return this.#fail(malformed(this.label(name)));
    return v;
  }
  bytes(name: string, len?: number, optional = false): Buffer | undefined {
    const v = this.raw(name, optional);
    if (v === undefined) return undefined;
    return fromB64u(v, len) ?? this.#fail(malformed(this.label(name)));
  }
  ts(name: string): number | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    return /^\d{1,12}$/.test(v) ? Number(v) : this.#fail(malformed(this.label(name)));
  }
}

const ROOT = 'ROOT';

function rootAction(cmd: Command): Action[] {
  return [{ context: '-', commands: [cmd] }];
}

/** The single ROOT command of a request, if the request is exactly that. */
export function rootCommand(t: TransactionRequest): Command | undefined {
  if (t.actions.length !== 1 || t.actions[0]!.commands.length !== 1) return undefined;
  const cmd = t.actions[0]!.commands[0]!;
  return cmd.terminations.length === 1 && cmd.terminations[0]!.toUpperCase() === ROOT ? cmd : undefined;
}

export type KsStep = 'register' | 'challenge' | 'authenticate' | 'accepted';

/**
 * Which flow step a ROOT command is, by its shape; undefined for anything else. Asked of every message
 * (the SBC twice per message, the gateway and the softswitch once), so it looks for the one name that
 * decides, as the readers would find it, without building their maps: the decoder reads the whole command
 * once the step is known.
 */
export function ksStep(cmd: Command): KsStep | undefined {
  if (cmd.name === 'ServiceChange') return hasServiceExtension(cmd, KS_EXT.idc) ? 'register' : undefined;
  if (cmd.name === 'Notify') return hasObservedEvent(cmd, KS_AUTH_EVENT) ? 'authenticate' : undefined;
  if (cmd.name === 'Modify') {
    if (hasProperty(cmd, 'ks/ekc')) return 'accepted';
    if (hasProperty(cmd, 'ks/rand')) return 'challenge';
  }
  return undefined;
}

/** As the readers tell a descriptor: by its token, or its name's for an item built here. */
const is = (it: Item, token: string): boolean => (it.token ?? canonicalToken(it.name)) === token;

/** `name` in any case (the readers lower- or upper-case the names they key by); the copy only for a name of the right length. */
const sameName = (name: string, lower: string): boolean => name.length === lower.length && (name === lower || name.toLowerCase() === lower);

/** readServiceChange(cmd)?.extensions.has(name), for an X- name in upper case. */
function hasServiceExtension(cmd: Command, name: string): boolean {
  const sv = cmd.descriptors.find((d) => is(d, 'Services'));
  if (!sv) return false;
  const lower = name.toLowerCase();
  for (const it of sv.children ?? []) {
    if (it.op === '=' && it.value !== undefined && sameName(it.name, lower) && EXTENSION_NAME.test(it.name)) return true;
  }
  return false;
}

/** readObservedEvents(cmd)?.events has `event` (lower-cased). */
function hasObservedEvent(cmd: Command, event: string): boolean {
  const oe = cmd.descriptors.find((d) => is(d, 'ObservedEvents'));
  if (!oe || oe.value === undefined) return false;
  for (const c of oe.children ?? []) if (sameName(c.name, event)) return true;
  return false;
}

/** readProperties(cmd).has(name), for a lower-case `pkg/name`. */
function hasProperty(cmd: Command, name: string): boolean {
  for (const d of cmd.descriptors) {
    if (!is(d, 'Media')) continue;
    for (const m of d.children ?? []) {
      if (is(m, 'TerminationState') || is(m, 'LocalControl')) {
        if (holds(m.children, name)) return true;
      } else if (is(m, 'Stream')) {
        for (const st of m.children ?? []) if (is(st, 'LocalControl') && holds(st.children, name)) return true;
      }
    }
  }
  return false;
}

/** A module function, not a closure per call: under tsx each closure made also gets its name defined. */
function holds(items: Item[] | undefined, name: string): boolean {
  for (const it of items ?? []) if (it.op === '=' && it.value !== undefined && sameName(it.name, name)) return true;
  return false;
}

// ---------- s1 / s2: ServiceChange ----------

export function encodeS1(s1: S1): Action[] {
  const ext = new Map<string, string>([[KS_EXT.idc, s1.idc]]);
  if (s1.idsp !== undefined) ext.set(KS_EXT.idsp, s1.idsp);
  ext.set(KS_EXT.n1, toB64u(s1.n1));
  ext.set(KS_EXT.ts, String(s1.ts));
  return rootAction({ name: 'ServiceChange', terminations: [ROOT], descriptors: [servicesItem({ method: 'Restart', reason: RESTART_REASON, extensions: ext })] });
}

export function encodeS2(s2: S2, reason = RESTART_REASON): Action[] {
  const ext = new Map([[KS_EXT.idc, s2.idc], [KS_EXT.idsp, s2.idsp]]);
  return rootAction({ name: 'ServiceChange', terminations: [ROOT], descriptors: [servicesItem({ method: 'Restart', reason, extensions: ext })] });
}

export function decodeS1(cmd: Command): Decoded<S1> {
  const sc = readServiceChange(cmd);
  if (!sc) return missing('ServiceChange descriptor');
  const f = new Fields(sc.extensions, '');
  f.label = (n) => n;
  const idc = f.text(KS_EXT.idc);
  const idsp = f.text(KS_EXT.idsp, true);
  const n1 = f.bytes(KS_EXT.n1, 16);
  const ts = f.ts(KS_EXT.ts);
  if (f.error) return { ok: false, error: f.error };
  const s1: S1 = { idc: idc!, n1: n1!, ts: ts! };
  if (idsp !== undefined) s1.idsp = idsp;
  return { ok: true, value: s1 };
}

export function decodeS2(cmd: Command): Decoded<S2> {
  const sc = readServiceChange(cmd);
  if (!sc) return missing('ServiceChange descriptor');
  const f = new Fields(sc.extensions, '');
  f.label = (n) => n;
  const idc = f.text(KS_EXT.idc);
  const idsp = f.text(KS_EXT.idsp);
  if (f.error) return { ok: false, error: f.error };
  return { ok: true, value: { idc: idc!, idsp: idsp! } };
}

/** ServiceChange reply (Version is required on the first reply). */
export function serviceChangeReply(): Action[] {
  return rootAction({ name: 'ServiceChange', terminations: [ROOT], descriptors: [servicesItem({ version: '1' })] });
}

// ---------- s5 / s6: Modify asking for authentication ----------

function modifyRoot(props: [string, string][], events?: number): Action[] {
  const descriptors = [terminationStateItem(props)];
  if (events !== undefined) descriptors.push(eventsItem(events, [KS_AUTH_EVENT]));
  return rootAction({ name: 'Modify', terminations: [ROOT], descriptors });
}

export function encodeS5(s5: S5, requestId: number): Action[] {
  return modifyRoot([['ks/idc', s5.idc], ['ks/idsp', s5.idsp], ['ks/rand', toB64u(s5.rand)]], requestId);
}

export function encodeS6(s6: S6, requestId: number): Action[] {
  return modifyRoot(
    [
      ['ks/idc', s6.idc], ['ks/idsp', s6.idsp], ['ks/rand', toB64u(s6.rand)], ['ks/n1', toB64u(s6.n1)],
      ['ks/n2', toB64u(s6.n2)], ['ks/ts', String(s6.ts)], ['ks/offer', s6.offered.text],
    ],
    requestId,
  );
}

export function decodeS5(cmd: Command): Decoded<S5> {
  const f = new Fields(readProperties(cmd), 'ks/');
  const idc = f.text('idc');
  const idsp = f.text('idsp');
  const rand = f.bytes('rand', 16);
  if (f.error) return { ok: false, error: f.error };
  return { ok: true, value: { idc: idc!, idsp: idsp!, rand: rand! } };
}

export function decodeS6(cmd: Command): Decoded<S6 & { requestId: number }> {
  const f = new Fields(readProperties(cmd), 'ks/');
  const idc = f.text('idc');
  const idsp = f.text('idsp');
  const rand = f.bytes('rand', 16);
  const n1 = f.bytes('n1', 16);
  const n2 = f.bytes('n2', 16);
  const ts = f.ts('ts');
  const offer = f.text('offer');
  if (f.error) return { ok: false, error: f.error };
  const offered = parseMechanisms(offer!);
  if (!offered.ok) return malformed('ks/offer');
  return { ok: true, value: { idc: idc!, idsp: idsp!, rand: rand!, n1: n1!, n2: n2!, ts: ts!, offered: offered.list, requestId: readEvents(cmd)?.requestId ?? 0 } };
}

/** The request id the MGC asked ks/auth under (echoed in ObservedEvents). */
export const requestIdOf = (cmd: Command): number => readEvents(cmd)?.requestId ?? 0;

// ---------- s7 / s8: Notify with ks/auth ----------

function notifyRoot(requestId: number | string, params: [string, string][]): Action[] {
  return rootAction({ name: 'Notify', terminations: [ROOT], descriptors: [observedEventsItem(String(requestId), [{ name: KS_AUTH_EVENT, params }])] });
}

export function encodeS7(s7: S7, requestId: number | string): Action[] {
  const p: [string, string][] = [['idc', s7.idc]];
  if (s7.idsp !== undefined) p.push(['idsp', s7.idsp]);
  p.push(['n1', toB64u(s7.n1)], ['n2', toB64u(s7.n2)], ['ts', String(s7.ts)]);
  if (s7.rand !== undefined) p.push(['rand', toB64u(s7.rand)]);
  p.push(['resp', toB64u(s7.authenticator)], ['mechs', s7.mechs.text]);
  return notifyRoot(requestId, p);
}

export function encodeS8(s8: S8, requestId: number | string): Action[] {
  const p: [string, string][] = [['idc', s8.idc], ['idsp', s8.idsp], ['rand', toB64u(s8.rand)], ['resp', toB64u(s8.authenticator)]];
  if (s8.mech !== undefined) p.push(['mech', s8.mech]);
  if (s8.ipc !== undefined) p.push(['ipc', s8.ipc]);
  return notifyRoot(requestId, p);
}

function authEvent(cmd: Command): { requestId: string; params: Map<string, string> } | undefined {
  const oe = readObservedEvents(cmd);
  const ev = oe?.events.find((e) => e.name === KS_AUTH_EVENT);
  return oe && ev ? { requestId: oe.requestId, params: ev.params } : undefined;
}

export function decodeS7(cmd: Command): Decoded<S7 & { requestId: string }> {
  const ev = authEvent(cmd);
  if (!ev) return missing(`${KS_AUTH_EVENT} event`);
  const f = new Fields(ev.params, '');
  const idc = f.text('idc');
  const idsp = f.text('idsp', true);
  const n1 = f.bytes('n1', 16);
  const n2 = f.bytes('n2', 16);
  const ts = f.ts('ts');
  const rand = f.bytes('rand', 16, true);
  const resp = f.bytes('resp', 16);
  const mechsText = f.text('mechs');
  if (f.error) return { ok: false, error: f.error };
  const mechs = parseMechanisms(mechsText!);
  if (!mechs.ok) return malformed(`${KS_AUTH_EVENT} mechs`);
  const s7: S7 & { requestId: string } = { idc: idc!, n1: n1!, n2: n2!, ts: ts!, authenticator: resp!, mechs: mechs.list, requestId: ev.requestId };
  if (idsp !== undefined) s7.idsp = idsp;
  if (rand !== undefined) s7.rand = rand;
  return { ok: true, value: s7 };
}

export function decodeS8(cmd: Command): Decoded<S8> {
  const ev = authEvent(cmd);
  if (!ev) return missing(`${KS_AUTH_EVENT} event`);
  const f = new Fields(ev.params, '');
  const idc = f.text('idc');
  const idsp = f.text('idsp');
  const rand = f.bytes('rand', 16);
  const resp = f.bytes('resp', 16);
  const mech = f.text('mech', true);
  const ipc = f.text('ipc', true);
  if (f.error) return { ok: false, error: f.error };
  const s8: S8 = { idc: idc!, idsp: idsp!, rand: rand!, authenticator: resp! };
  if (mech !== undefined) s8.mech = mech;
  if (ipc !== undefined) s8.ipc = ipc;
  return { ok: true, value: s8 };
}

// ---------- s9 / s10: Modify reporting success ----------

export function encodeS9(s9: S9): Action[] {
  return modifyRoot([
    ['ks/result', 'ok'], ['ks/idc', s9.idc], ['ks/idsp', s9.idsp], ['ks/rand', toB64u(s9.rand)], ['ks/ekc', toB64u(s9.ekc)], ['ks/eksp', toB64u(s9.eksp)],
  ]);
}

/** s10 never carries ks/eksp: it is built from the neutral S10, which has no such field. */
export function encodeS10(s10: S10): Action[] {
  return modifyRoot([
    ['ks/result', 'ok'], ['ks/idc', s10.idc], ['ks/idsp', s10.idsp], ['ks/n1', toB64u(s10.n1)], ['ks/n2', toB64u(s10.n2)],
    ['ks/ts', String(s10.ts)], ['ks/ekc', toB64u(s10.ekc)], ['ks/mech', s10.mech], ['ks/mechs', s10.mechs], ['ks/mac', toB64u(s10.mac)],
  ]);
}

export function decodeS9(cmd: Command): Decoded<S9> {
  const f = new Fields(readProperties(cmd), 'ks/');
  const idc = f.text('idc');
  const idsp = f.text('idsp');
  const rand = f.bytes('rand', 16);
  const ekc = f.bytes('ekc', 60);
  const eksp = f.bytes('eksp', 60);
  if (f.error) return { ok: false, error: f.error };
  return { ok: true, value: { idc: idc!, idsp: idsp!, rand: rand!, ekc: ekc!, eksp: eksp! } };
}

export function decodeS10(cmd: Command): Decoded<S10> {
  const f = new Fields(readProperties(cmd), 'ks/');
  const idc = f.text('idc');
  const idsp = f.text('idsp');
  const n1 = f.bytes('n1', 16);
  const n2 = f.bytes('n2', 16);
  const ts = f.ts('ts');
  const ekc = f.bytes('ekc', 60);
  const mech = f.text('mech');
  const mechs = f.text('mechs');
  const mac = f.bytes('mac', 16);
  if (f.error) return { ok: false, error: f.error };
  return { ok: true, value: { idc: idc!, idsp: idsp!, n1: n1!, n2: n2!, ts: ts!, ekc: ekc!, mech: mech!, mechs: mechs!, mac: mac! } };
}

/** A bare command reply echoing each command's name and terminations. */
export function echoReply(actions: Action[]): Action[] {
  return actions.map((a) => ({ context: a.context, commands: a.commands.map((c) => ({ name: c.name, terminations: c.terminations, descriptors: [] })) }));
}
