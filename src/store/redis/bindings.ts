import type { BindingDecision, LocationStore, SipBinding } from '../bindings.js';
import type { SharedRedis } from './client.js';
import { storedBinding } from '../records.js';
import { RedisScript } from './script.js';

/**
 * The softswitch's location service on Redis, shared by every softswitch
 * instance (and the AuC's operator de-registration) given the same Redis;
 * the layout follows Kamailio's db_redis: a hash per contact and a set per
 * AoR (docs/scale-out.md, "Softswitch and AuC state in Redis").
 *
 * - `loc:{<aor>}`: set of the AoR's contact URIs.
 * - `loc:{<aor>}:c:<contact>`: hash of one binding, TTL = the binding's expiry.
 * - `loc:{<aor>}:v`: the AoR's version, bumped by every change.
 * - `loc:exp`: sorted set of `aor \n contact \n idsp \n mechanism` by expiry,
 *   for the sweep that reports expired bindings to the AuC (the contact's hash
 *   has gone by then: what the report needs is in the member).
 *
 * An update is optimistic and atomic per AoR: one script reads the version
 * and every binding, the registrar decides (Call-ID/CSeq order, RFC 3261
 * §10.3), and a second script applies the changes only if the version is
 * still the one read — otherwise it reads again. So two instances handling
 * REGISTERs of one AoR at once behave as if one came after the other, and a
 * REGISTER out of order at B after A accepted a newer one is refused.
 * Two round trips per change, one per read; a change that follows a read of
 * the same AoR within a second (the KS1 s8 checks the order before it reports
 * to the AuC, a refresh checks the binding first) starts from that read, so a
 * REGISTER costs one read and one commit. That is safe because the commit
 * checks the version: a read grown stale only costs an attempt.
 */

const READ = `
local members = redis.call('SMEMBERS', KEYS[1])
local out = { redis.call('GET', KEYS[2]) or '' }
for i = 1, #members do
  local h = redis.call('HGETALL', ARGV[1] .. members[i])
  if #h > 0 then out[#out + 1] = h end
end
return out`;

// ARGV: version read, contact-key prefix, ttl of the AoR's keys (ms), then per change:
//   'p', contact, ttlMs, expiresAt, member, then 2×n hash fields (n first) | 'r', contact
const COMMIT = `
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[1] then return 0 end
local pre = ARGV[2]
local i = 4
while i <= #ARGV do
  local op, contact = ARGV[i], ARGV[i + 1]
  local ck = pre .. contact
  local old = redis.call('HGET', ck, 'z')
  if old then redis.call('ZREM', KEYS[3], old) end
  if op == 'r' then
    redis.call('DEL', ck)
    redis.call('SREM', KEYS[1], contact)
    i = i + 2
  else
    local ttl, exp, member, n = ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], tonumber(ARGV[i + 5])
    redis.call('DEL', ck)
    local f = {}
    for j = 1, n * 2 do f[j] = ARGV[i + 5 + j] end
    redis.call('HSET', ck, 'z', member, unpack(f))
    redis.call('PEXPIRE', ck, ttl)
    redis.call('SADD', KEYS[1], contact)
    redis.call('ZADD', KEYS[3], exp, member)
    i = i + 6 + n * 2
  end
end
redis.call('INCR', KEYS[2])
local keep = tonumber(ARGV[3])
if redis.call('SCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], keep) end
redis.call('PEXPIRE', KEYS[2], keep)
return 1`;

// Expired members of loc:exp, each taken by one caller; one whose contact was registered again since is dropped unreported.
const TAKE_EXPIRED = `
local now = tonumber(ARGV[1])
local got = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, m in ipairs(got) do
  redis.call('ZREM', KEYS[1], m)
  local nl = string.find(m, '\\n', 1, true)
  local nl2 = string.find(m, '\\n', nl + 1, true)
  local aor, contact = string.sub(m, 1, nl - 1), string.sub(m, nl + 1, nl2 - 1)
  local ck = ARGV[3] .. 'loc:{' .. aor .. '}:c:' .. contact
  local e = redis.call('HGET', ck, 'e')
  if e and tonumber(e) > now then
    -- registered again: not expired
  else
    redis.call('DEL', ck)
    redis.call('SREM', ARGV[3] .. 'loc:{' .. aor .. '}', contact)
    out[#out + 1] = m
  end
end
return out`;

const SCRIPTS = {
  read: new RedisScript(READ, 2),
  commit: new RedisScript(COMMIT, 3),
  takeExpired: new RedisScript(TAKE_EXPIRED, 1),
};

/**
 * Optimistic attempts of one update before it is given up (answered 503: the
 * AoR is changing faster than it can be read). Each failed attempt means
 * another update of the AoR succeeded, so N updates at once need at most N
 * attempts; past the second, a short random pause spreads them out.
 */
const ATTEMPTS = 32;
/** How long, and for how many AoRs, a read is kept for the update that follows it. */
const SNAPSHOT_MS = 1000;
const SNAPSHOTS = 4096;

interface Snapshot {
  version: string;
  all: SipBinding[];
  at: number;
}

export class RedisBindingRepo implements LocationStore {
  readonly #snapshots = new Map<string, Snapshot>();

  constructor(private readonly shared: SharedRedis, private readonly now: () => number) {}

  async #read(aor: string): Promise<Snapshot> {
    const raw = (await this.shared.run((r) => SCRIPTS.read.run(r, [setKey(aor), verKey(aor)], [this.shared.prefix + contactPrefix(aor)]))) as Array<string | string[]>;
    const version = String(raw[0] ?? '');
    const all: SipBinding[] = [];
    for (let i = 1; i < raw.length; i++) all.push(bindingOf(aor, raw[i] as string[]));
    const snap = { version, all, at: this.now() };
    this.#snapshots.delete(aor);
    if (this.#snapshots.size >= SNAPSHOTS) this.#snapshots.delete(this.#snapshots.keys().next().value!);
    this.#snapshots.set(aor, snap);
    return snap;
  }

  /** The read just made of this AoR, once, if recent; the caller's commit checks its version. */
  #recent(aor: string): Snapshot | undefined {
    const s = this.#snapshots.get(aor);
    if (!s) return undefined;
    this.#snapshots.delete(aor);
    const age = this.now() - s.at;
    return age >= 0 && age <= SNAPSHOT_MS ? s : undefined;
  }

  async current(aor: string): Promise<SipBinding[]> {
    return ordered((await this.#read(aor)).all, this.now());
  }

  async count(): Promise<number> {
    return this.shared.run((r) => r.zcount(EXP_KEY, `(${this.now()}`, '+inf'));
  }

  async update<T>(aor: string, decide: (live: SipBinding[]) => BindingDecision<T>): Promise<{ committed: boolean; result: T; live: SipBinding[]; removed: SipBinding[] }> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      if (attempt >= 2) await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, attempt * 2)));
      const now = this.now();
      const recent = attempt === 0 ? this.#recent(aor) : undefined;
      const { version, all } = recent ?? (await this.#read(aor));
      this.#snapshots.delete(aor);
      const live = ordered(all, now);
      const d = decide(live);
      // a refusal is decided on a fresh read only
      if ('abort' in d && recent) continue;
      if ('abort' in d) return { committed: false, result: d.abort, live, removed: [] };
      const byContact = new Map<string, SipBinding>();
      for (const b of live) byContact.set(b.contact, b);
      const removed: SipBinding[] = [];
      const args: Array<string | number> = [];
      for (const c of d.commit) {
        if (c.op === 'remove') {
          const was = byContact.get(c.contact);
          if (was) removed.push(was);
          byContact.delete(c.contact);
          args.push('r', c.contact);
          continue;
        }
        const nb = c.binding;
        if (nb.aor !== aor) throw new Error('binding for another AoR');
        const prev = byContact.get(nb.contact);
        const b = storedBinding(nb, prev?.createdAt ?? now, now);
        byContact.set(nb.contact, b);
        const f = fieldsOf(b);
        args.push('p', nb.contact, ttl(b.expiresAt, now), b.expiresAt, memberOf(b), f.length / 2, ...f);
      }
      const after = ordered([...byContact.values()], now);
      const keep = Math.max(1000, ...after.map((b) => ttl(b.expiresAt, now)));
      const ok = await this.shared.run((r) => SCRIPTS.commit.run(r, [setKey(aor), verKey(aor), EXP_KEY], [version, this.shared.prefix + contactPrefix(aor), keep, ...args]));
      if (ok === 1) return { committed: true, result: d.result, live: after, removed };
    }
    throw new Error('location store: the AoR kept changing under the update');
  }

  async removeAll(aor: string, contact?: string): Promise<SipBinding[]> {
    const r = await this.update(aor, (live) => ({
      commit: live.filter((b) => contact === undefined || b.contact === contact).map((b) => ({ op: 'remove' as const, contact: b.contact })),
      result: true,
    }));
    return r.removed;
  }

  async takeExpired(limit = 500): Promise<SipBinding[]> {
    const now = this.now();
    const got = (await this.shared.run((r) => SCRIPTS.takeExpired.run(r, [EXP_KEY], [now, limit, this.shared.prefix]))) as string[];
    return got.map((m) => {
      const [aor = '', contact = '', idsp = '', mechanism = ''] = m.split('\n');
      return { aor, contact, idsp, mechanism, q: 1, expiresAt: now, callId: '', cseq: 0, source: '', instance: '', createdAt: now, updatedAt: now };
    });
  }
}

const EXP_KEY = 'loc:exp';
// The AoR in braces: a Redis Cluster hash tag, so that one AoR's keys would share a slot.
const setKey = (aor: string): string => `loc:{${aor}}`;
const verKey = (aor: string): string => `loc:{${aor}}:v`;
const contactPrefix = (aor: string): string => `loc:{${aor}}:c:`;
/** What the expiry sweep reports; an AoR and a contact URI hold no newline (the SIP parser refuses them). */
const memberOf = (b: SipBinding): string => `${b.aor}\n${b.contact}\n${b.idsp}\n${b.mechanism}`;
const ttl = (expiresAt: number, now: number): number => Math.max(1, Math.ceil(expiresAt - now));

function fieldsOf(b: SipBinding): Array<string | number> {
  return ['ct', b.contact, 'q', Math.round(b.q * 1000), 'e', b.expiresAt, 'ci', b.callId, 'cs', b.cseq, 'src', b.source, 'sp', b.idsp, 'm', b.mechanism, 'in', b.instance, 'ri', b.regId ?? '', 'ca', b.createdAt, 'ua', b.updatedAt];
}

function bindingOf(aor: string, flat: string[]): SipBinding {
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
  const b: SipBinding = {
    aor,
    contact: h.ct ?? '',
    q: Number(h.q ?? 1000) / 1000,
    expiresAt: Number(h.e ?? 0),
    callId: h.ci ?? '',
    cseq: Number(h.cs ?? 0),
    source: h.src ?? '',
    idsp: h.sp ?? '',
    mechanism: h.m ?? '',
    instance: h.in ?? '',
    createdAt: Number(h.ca ?? 0),
    updatedAt: Number(h.ua ?? 0),
  };
  if (h.ri) b.regId = Number(h.ri);
  return b;
}

/** Live ones, highest q first, then oldest first (as the database orders them). */
function ordered(all: SipBinding[], now: number): SipBinding[] {
  return all
    .filter((b) => b.expiresAt > now)
    .sort((x, y) => Math.round(y.q * 1000) - Math.round(x.q * 1000) || x.createdAt - y.createdAt || (x.contact < y.contact ? -1 : x.contact > y.contact ? 1 : 0));
}
