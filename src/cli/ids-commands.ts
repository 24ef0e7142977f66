/**
 * `keyswitch ids …`: the intrusion detection for operators (docs/ids.md).
 * blocks, partners and rules read what the running processes of this data
 * directory write of their IDS every 10 s (`<dataDir>/ids/<pid>.json`);
 * unblock goes through the store to every SBC, as `blocked unblock` does;
 * check validates a rule file without starting anything.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import type { IdsState } from '../ids/service.js';
import { Operations, sourceProblem } from '../auc/operations.js';
import { cliActor, configFrom, UsageError, withStore, type GlobalFlags } from './context.js';

interface Json {
  json?: boolean;
}

// The engine and the rule parser are loaded by the commands that use them, not by every start of the CLI.
async function states(g: GlobalFlags): Promise<IdsState[]> {
  const cfg = configFrom(g);
  const { readIdsStates } = await import('../ids/service.js');
  const list = readIdsStates(join(cfg.dataDir, 'ids'));
  if (list.length === 0) process.stderr.write(`keyswitch: no running process of ${cfg.dataDir} reports its intrusion detection (ids.enabled off, or nothing running)\n`);
  return list;
}

const iso = (t: number | undefined) => (t === undefined ? '-' : new Date(t).toISOString());

export function addIdsCommands(program: Command, g: () => GlobalFlags): void {
  const ids = program.command('ids').description('the intrusion detection: blocks, partners, rule counts, unblock, check a rule file (docs/ids.md)');
  const json = (c: Command) => c.option('--json', 'print one JSON line');

  json(ids.command('blocks').description('blocks in force with scope, rule, reason and expiry, per process')).action(async (o: Json) => {
    const items = (await states(g())).flatMap((s) => s.blocks.map((b) => ({ process: s.pid, ...b })));
    if (o.json) return console.log(JSON.stringify({ items }));
    for (const b of items) console.log([b.target, b.scope, `rule "${b.rule}"`, b.reason, `since ${iso(b.since)}`, `until ${iso(b.until)}`, `${b.hits} dropped`].join('\t'));
  });

  json(ids.command('partners').description('flows, addresses and identities tracked, most recent first').option('--limit <n>', 'at most this many', '50')).action(async (o: Json & { limit: string }) => {
    const items = (await states(g()))
      .flatMap((s) => s.partners.map((p) => ({ process: s.pid, ...p })))
      .sort((a, b) => b.last - a.last)
      .slice(0, Math.max(1, Number(o.limit) || 50));
    if (o.json) return console.log(JSON.stringify({ items }));
    for (const p of items) console.log([p.kind, p.key, `${p.messages} messages`, `${p.authOk} auth ok`, `${p.authFailed} failed`, `good ${iso(p.goodAt)}`, `last ${iso(p.last)}`].join('\t'));
  });

  json(ids.command('rules').description('the rules in force and their counts (matched, fired, dropped, answered, blocked)')).action(async (o: Json) => {
    const items = (await states(g())).flatMap((s) => s.rules.map((r) => ({ process: s.pid, file: s.rulesFile, ...r })));
    if (o.json) return console.log(JSON.stringify({ items }));
    for (const r of items) console.log([r.name, r.type, `matched ${r.matched}`, `fired ${r.fired}`, `dropped ${r.dropped}`, `answered ${r.answered}`, `blocked ${r.blocked}`, `last ${iso(r.lastFiredAt)}`, `pid ${r.process}`].join('\t'));
  });

  json(ids.command('unblock <target>').description('lift a block: an address, address:port, [v6]:port or id:<identity>, at every SBC (within its poll interval; audited)')).action(async (target: string, o: Json) => {
    const problem = sourceProblem(target);
    if (problem) throw new UsageError(problem);
    await withStore(g(), async (store) => {
      const r = await new Operations(store).unblock(target, cliActor());
      console.log(o.json ? JSON.stringify(r) : `${target}: every SBC is told to lift it${r.lifted ? ` (blocked by ${r.idsps.join(', ')})` : ''}`);
    });
  });

  json(ids.command('check [file]').description('validate a rule file (default: the one configured, else the shipped one); errors name the line, rule and field')).action(async (file: string | undefined, o: Json) => {
    const [{ shippedRules }, { loadRuleFile }] = await Promise.all([import('../ids/service.js'), import('../ids/load.js')]);
    const path = file ?? (configFrom(g()).ids.rules || shippedRules());
    try {
      const set = loadRuleFile(path);
      console.log(o.json ? JSON.stringify({ file: path, ok: true, rules: set.rules.map((r) => ({ name: r.name, type: r.type, line: r.line })) }) : `${path}: ${set.rules.length} rules, valid`);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  });
}
