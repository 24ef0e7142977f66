/**
 * The operator commands beside provisioning (docs/operations.md): show,
 * rotate, disable, enable, delete terminals and proxies, SIP passwords,
 * unlock, registrations, failures and lockouts, blocked sources, failures per
 * source, the audit log. They work on the store as the API does, through the
 * same Operations, and print the API's JSON with --json, readable text
 * otherwise. SBCs (the one of a running `keyswitch up` included) learn of an
 * unblock or a de-registration from the store within their poll interval.
 */
import type { Command } from 'commander';
import { Operations, parseTimeBound, principalView, sourceProblem, type PrincipalView } from '../auc/operations.js';
import { deletePrincipal, isRefusal, rotatePrincipal, setPrincipalStatus, setTerminalSipPassword, type Refusal } from '../auc/provisioning.js';
import { keyProblem, sipPasswordProblem } from '../auc/validate.js';
import type { AuditFilter } from '../store/audit.js';
import type { Store } from '../store/index.js';
import type { RegistrationFilter } from '../store/registrations.js';
import type { Page } from '../store/rows.js';
import { cliActor, UsageError, withStore, type GlobalFlags } from './context.js';
import { readSecret, secretHelp, StdinOnce } from './secret-input.js';

type Kind = 'terminal' | 'proxy';

/** A refusal of src/auc/provisioning.ts is the operator's mistake: exit 2 with its message. */
function orRefuse<T>(r: T | Refusal): T {
  if (isRefusal(r)) throw new UsageError(r.message);
  return r;
}

interface Json {
  json?: boolean;
}
interface Paging extends Json {
  offset: string;
  limit: string;
}

function kindOf(what: string): Kind {
  if (what === 'terminal' || what === 'proxy') return what;
  throw new UsageError(`terminal or proxy, not ${JSON.stringify(what)}`);
}

function check(problem: string | undefined): void {
  if (problem) throw new UsageError(problem);
}

function pagingOf(o: Paging): { offset: number; limit: number } {
  const offset = Number(o.offset);
  const limit = Number(o.limit);
  if (!/^[0-9]{1,15}$/.test(o.offset) || !/^[0-9]{1,4}$/.test(o.limit) || !Number.isSafeInteger(offset) || limit < 1 || limit > 1000) {
    throw new UsageError('--offset must be a whole number, --limit one from 1 to 1000');
  }
  return { offset, limit };
}

/** Prints `value` as one JSON line, or the readable lines. */
function print(o: Json, value: unknown, text: () => string[]): void {
  if (o.json) console.log(JSON.stringify(value));
  else for (const l of text()) console.log(l);
}

function more(page: Page<unknown>): string {
  if (page.total === 0) return '(none)';
  const shown = page.offset + page.items.length;
  return `(${page.items.length} of ${page.total}${page.total > shown ? `; next: --offset ${shown}` : ''})`;
}

function ago(seconds: number): string {
  if (seconds >= 3600) return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
  if (seconds >= 60) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${seconds}s`;
}

function principalLines(kind: Kind, v: PrincipalView): string[] {
  const lines = [`${kind} ${v.id}`, `  status          ${v.status}${v.lockedUntil ? ` until ${v.lockedUntil}` : ''}`, `  key generation  ${v.keyGeneration}`];
  if (kind === 'terminal') lines.push(`  SIP password    ${v.hasSipPassword ? 'set' : 'none'}`, `  failures        ${v.failures ?? 0}`);
  lines.push(`  created         ${v.createdAt}`, `  updated         ${v.updatedAt}`);
  return lines;
}

async function viewOf(store: Store, kind: Kind, id: string, key?: Buffer): Promise<PrincipalView> {
  const repo = kind === 'terminal' ? store.terminals : store.proxies;
  const p = await repo.get(id);
  if (!p) throw new UsageError(`${kind} ${JSON.stringify(id)} does not exist`);
  const failure = kind === 'terminal' ? ((await store.failures.get(id)) ?? null) : undefined;
  return principalView(p, { now: store.now(), ...(failure !== undefined ? { failure } : {}), ...(key ? { key } : {}) });
}

/** Adds the operator commands to the program; `g` reads the global flags when a command runs. */
export function addOperatorCommands(program: Command, g: () => GlobalFlags): void {
  const json = (c: Command) => c.option('--json', 'print the answer as one JSON line (the API\'s shape)');
  const paged = (c: Command) => json(c.option('--offset <n>', 'skip this many', '0').option('--limit <n>', 'at most this many (1-1000)', '100'));

  json(program.command('show <what> <id>').description('show a terminal or proxy: status (active, disabled, or locked with until when), key generation, SIP password set, failures'))
    .action(async (what: string, id: string, o: Json) => {
      const kind = kindOf(what);
      await withStore(g(), async (store) => {
        const v = await viewOf(store, kind, id);
        print(o, v, () => principalLines(kind, v));
      });
    });

  const rotate = program
    .command('rotate <what> <id>')
    .description('replace the long-term key of a terminal or proxy; without a key one is generated and printed once')
    .option('--key <hex>', secretHelp('key', 'the new 32-byte key, as 64 hex digits').value)
    .option('--key-file <path>', secretHelp('key', '').file)
    .option('--key-stdin', secretHelp('key', '').stdin);
  json(rotate).action(async (what: string, id: string, o: Json & { key?: string; keyFile?: string; keyStdin?: boolean }) => {
    const kind = kindOf(what);
    const hex = readSecret('key', { value: o.key, file: o.keyFile, stdin: o.keyStdin }, new StdinOnce());
    if (hex) check(keyProblem(hex));
    await withStore(g(), async (store) => {
      const r = orRefuse(await rotatePrincipal(store, kind, id, hex ?? '', cliActor()));
      const v = await viewOf(store, kind, id, r.key);
      r.key?.fill(0);
      print(o, v, () => [
        `${kind} ${id}: key rotated (generation ${v.keyGeneration})`,
        ...(v.key ? [`key ${v.key}`, `(shown this once: give it to the ${kind === 'terminal' ? 'terminal' : 'SBC'} now)`] : []),
      ]);
    });
  });

  for (const verb of ['disable', 'enable'] as const) {
    json(program.command(`${verb} <what> <id>`).description(`${verb} a terminal or proxy${verb === 'disable' ? ' (it can no longer authenticate; registrations it holds run out)' : ''}`)).action(
      async (what: string, id: string, o: Json) => {
        const kind = kindOf(what);
        await withStore(g(), async (store) => {
          orRefuse(await setPrincipalStatus(store, kind, id, verb, cliActor()));
          const v = await viewOf(store, kind, id);
          print(o, v, () => [`${kind} ${id} ${verb}d${v.status === 'locked' ? ` (still locked until ${v.lockedUntil}: keyswitch unlock ${id})` : ''}`]);
        });
      },
    );
  }

  json(program.command('delete <what> <id>').description('delete a terminal or proxy and its key')).action(async (what: string, id: string, o: Json) => {
    const kind = kindOf(what);
    await withStore(g(), async (store) => {
      orRefuse(await deletePrincipal(store, kind, id, cliActor()));
      print(o, { kind, id, deleted: true }, () => [`${kind} ${id} deleted`]);
    });
  });

  const sipPassword = program
    .command('sip-password <idc>')
    .description("set or remove a terminal's SIP Digest password (for phones that do not speak KS1)")
    .option('--sip-password <password>', secretHelp('sip-password', 'the new password').value)
    .option('--sip-password-file <path>', secretHelp('sip-password', '').file)
    .option('--sip-password-stdin', secretHelp('sip-password', '').stdin)
    .option('--remove', 'remove the password (the terminal can then register with KS1 only)');
  json(sipPassword).action(async (idc: string, o: Json & { sipPassword?: string; sipPasswordFile?: string; sipPasswordStdin?: boolean; remove?: boolean }) => {
    const pw = readSecret('sip-password', { value: o.sipPassword, file: o.sipPasswordFile, stdin: o.sipPasswordStdin }, new StdinOnce());
    if ((pw === undefined) === !o.remove) throw new UsageError('give a password (--sip-password, --sip-password-file or --sip-password-stdin) or --remove');
    if (pw !== undefined) check(sipPasswordProblem(pw));
    await withStore(g(), async (store) => {
      orRefuse(await setTerminalSipPassword(store, idc, pw ?? null, cliActor()));
      const v = await viewOf(store, 'terminal', idc);
      print(o, v, () => [`terminal ${idc}: SIP password ${pw !== undefined ? 'set' : 'removed'}`]);
    });
  });

  json(program.command('unlock <idc>').description("clear a terminal's lockout and failure count (audited)")).action(async (idc: string, o: Json) => {
    await withStore(g(), async (store) => {
      const r = await new Operations(store).unlock(idc, cliActor());
      if (!r) throw new UsageError(`terminal ${JSON.stringify(idc)} does not exist`);
      print(o, r.terminal, () => [
        `terminal ${idc} unlocked${r.was.locked ? ` (it was locked; ${r.was.failures} failures, ${r.was.lockouts} lockouts)` : r.was.failures ? ` (it was not locked; ${r.was.failures} failures cleared)` : ' (it was not locked)'}`,
      ]);
    });
  });

  const regs = program.command('registrations').description('live registrations of every protocol, as the AuC recorded them (like kamctl ul show)');
  paged(
    regs
      .command('list')
      .description('list live registrations, filtered and paged')
      .option('--idc <idc>', 'this IDc only')
      .option('--prefix <text>', 'IDcs starting with this')
      .option('--protocol <p>', 'sip, mgcp or h248')
      .option('--idsp <id>', 'through this SBC')
      .option('--mechanism <m>', 'tls-psk, app-hmac, tls or digest')
      .option('--source <address>', "the terminal's address"),
  ).action(async (o: Paging & { idc?: string; prefix?: string; protocol?: string; idsp?: string; mechanism?: string; source?: string }) => {
    const { offset, limit } = pagingOf(o);
    const filter: RegistrationFilter = {
      ...(o.idc !== undefined ? { idc: o.idc } : {}),
      ...(o.prefix ? { prefix: o.prefix } : {}),
      ...(o.protocol !== undefined ? { protocol: o.protocol } : {}),
      ...(o.idsp !== undefined ? { idsp: o.idsp } : {}),
      ...(o.mechanism !== undefined ? { mechanism: o.mechanism } : {}),
      ...(o.source !== undefined ? { ipc: o.source } : {}),
    };
    await withStore(g(), async (store) => {
      const page = await new Operations(store).registrations(filter, offset, limit);
      print(o, page, () => [
        ...(page.items.length ? [['IDC', 'PROTO', 'MECHANISM', 'SBC', 'SOURCE', 'EXPIRES', 'CONTACT'].join('\t')] : []),
        ...page.items.map((r) => [r.idc, r.protocol, r.mechanism, r.idsp, r.source, `in ${ago(r.expiresInSeconds)}`, r.contact].join('\t')),
        more(page),
      ]);
    });
  });
  json(regs.command('show <idc>').description('the live registrations of one IDc, in full')).action(async (idc: string, o: Json) => {
    await withStore(g(), async (store) => {
      const page = await new Operations(store).registrations({ idc }, 0, 1000);
      print(o, page, () =>
        page.items.length === 0
          ? [`${idc}: no live registration`]
          : page.items.flatMap((r) => [
              `${r.idc} (${r.protocol})`,
              `  contact     ${r.contact}`,
              `  mechanism   ${r.mechanism}`,
              `  SBC         ${r.idsp}`,
              `  source      ${r.source}`,
              `  registered  ${r.registeredAt}`,
              `  refreshed   ${r.updatedAt}`,
              `  expires     ${r.expiresAt} (in ${ago(r.expiresInSeconds)})`,
            ]),
      );
    });
  });
  json(
    regs
      .command('deregister <idc>')
      .description("remove an IDc's registrations (its AuC rows, SIP bindings, and once none is left its SBC session); the terminal may register again (disable it to keep it out)")
      .option('--protocol <p>', 'only the registrations of this protocol')
      .option('--contact <uri>', 'only the registration with this contact'),
  ).action(async (idc: string, o: Json & { protocol?: string; contact?: string }) => {
    await withStore(g(), async (store) => {
      const r = await new Operations(store).deregister(idc, { ...(o.protocol ? { protocol: o.protocol } : {}), ...(o.contact ? { contact: o.contact } : {}) }, cliActor());
      if (!r) throw new UsageError(`${JSON.stringify(idc)} holds no such registration`);
      const session = { dropped: 'dropped', requested: 'to be dropped by the SBCs within their poll interval', kept: 'kept (other registrations remain)' }[r.sbcSession];
      print(o, r, () => [`${idc} de-registered: ${r.registrations} registration${r.registrations === 1 ? '' : 's'}, ${r.bindings} SIP binding${r.bindings === 1 ? '' : 's'} removed; SBC session ${session}`]);
    });
  });

  const failures = program.command('failures').description('authentication failures and lockouts per terminal');
  paged(failures.command('list').description('terminals with failures on record, locked ones first').option('--locked', 'only terminals locked now').option('--prefix <text>', 'IDcs starting with this')).action(
    async (o: Paging & { locked?: boolean; prefix?: string }) => {
      const { offset, limit } = pagingOf(o);
      await withStore(g(), async (store) => {
        const page = await new Operations(store).failures({ ...(o.locked ? { locked: true } : {}), ...(o.prefix ? { prefix: o.prefix } : {}) }, offset, limit);
        print(o, page, () => [
          ...page.items.map((f) =>
            [f.idc, f.locked ? `LOCKED until ${f.lockedUntil} (${ago(f.retryAfterSeconds)} left)` : 'not locked', `${f.failures} failures since ${f.windowStart}`, `${f.lockouts} lockouts`, `last ${f.lastFailureAt}`].join('\t'),
          ),
          more(page),
        ]);
      });
    },
  );

  const blocked = program.command('blocked').description("sources the SBCs block (too many header-signature failures), with unblock");
  paged(blocked.command('list').description('blocked sources with reason and expiry, newest first')).action(async (o: Paging) => {
    const { offset, limit } = pagingOf(o);
    await withStore(g(), async (store) => {
      const page = await new Operations(store).blocked(offset, limit);
      print(o, page, () => [
        ...page.items.map((b) => [b.source, `by ${b.idsp}`, `${b.reason} (${b.failures} in ${b.windowMs} ms)`, `since ${b.blockedAt}`, `until ${b.expiresAt} (${ago(b.expiresInSeconds)} left)`].join('\t')),
        more(page),
      ]);
    });
  });
  json(blocked.command('unblock <source>').description('lift the blocks of a source address at every SBC (within their poll interval; audited)')).action(async (source: string, o: Json) => {
    check(sourceProblem(source));
    await withStore(g(), async (store) => {
      const r = await new Operations(store).unblock(source, cliActor());
      print(o, r, () => [r.lifted ? `${source} unblocked (blocked by ${r.idsps.join(', ')}); every SBC lifts it within its poll interval` : `no block of ${source} is on record; every SBC is told to lift it all the same`]);
    });
  });

  const sources = program.command('sources').description('failures per source address at the SBCs');
  paged(sources.command('list').description('sources with most failures first, by kind (signature, app-hmac, replay, …)')).action(async (o: Paging) => {
    const { offset, limit } = pagingOf(o);
    await withStore(g(), async (store) => {
      const page = await new Operations(store).sourceFailures(offset, limit);
      print(o, page, () => [
        ...page.items.map((f) => [f.source, `at ${f.idsp}`, `${f.total} failures`, Object.entries(f.byKind).map(([k, n]) => `${k}=${n}`).join(' '), `last ${f.last}`, ...(f.blocked ? ['BLOCKED'] : [])].join('\t')),
        more(page),
      ]);
    });
  });

  paged(
    program
      .command('audit')
      .description('the audit log, newest first')
      .option('--target <id>', 'exactly this target (an identity, a token id, a source address)')
      .option('--actor <text>', 'actors starting with this (cli:, token:<id>, keyswitch-up)')
      .option('--action <text>', 'actions starting with this (terminal., terminal.unlock, sbc.unblock)')
      .option('--since <time>', 'entries at or after this ISO 8601 date or date-time with zone')
      .option('--until <time>', 'entries before this ISO 8601 date or date-time with zone'),
  ).action(async (o: Paging & { target?: string; actor?: string; action?: string; since?: string; until?: string }) => {
    const { offset, limit } = pagingOf(o);
    const filter: AuditFilter = {};
    if (o.target !== undefined) filter.target = o.target;
    if (o.actor) filter.actor = o.actor;
    if (o.action) filter.action = o.action;
    for (const k of ['since', 'until'] as const) {
      if (o[k] === undefined) continue;
      const t = parseTimeBound(o[k]!, `--${k}`);
      if (!t.ok) throw new UsageError(t.problem);
      filter[k] = t.ms;
    }
    await withStore(g(), async (store) => {
      const page = await new Operations(store).audit(filter, offset, limit);
      print(o, page, () => [...page.items.map((e) => [e.time, e.actor, e.action, e.target, JSON.stringify(e.detail)].join('\t')), more(page)]);
    });
  });
}
