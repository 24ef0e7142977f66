import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadValue, formatValue, parseValue } from './kinds.js';
import { SETTINGS, type Setting, type SettingsConfig } from './settings.js';

/**
 * The configuration roles receive: its shape and types come from SETTINGS
 * (settings.ts), its values are parsed and checked once, here.
 */
export type Config = SettingsConfig;

export class ConfigError extends Error {}

/** config/default.yaml: two folders up from src/config/ under tsx, three from dist/src/config/ once compiled. */
function findDefaults(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', '..', 'config', 'default.yaml'), join(here, '..', '..', '..', 'config', 'default.yaml')];
  return candidates.find((f) => existsSync(f)) ?? candidates[0]!;
}

const DEFAULTS_FILE = findDefaults();

type Tree = Record<string, unknown>;

function getPath(tree: Tree, path: string): unknown {
  return path.split('.').reduce<unknown>((t, k) => (t && typeof t === 'object' ? (t as Tree)[k] : undefined), tree);
}

function setPath(tree: Tree, path: string, value: unknown): void {
  const keys = path.split('.');
  let t = tree;
  for (const k of keys.slice(0, -1)) {
    if (!t[k] || typeof t[k] !== 'object') t[k] = {};
    t = t[k] as Tree;
  }
  t[keys[keys.length - 1]] = value;
}

/** The typed value, or a ConfigError naming where it came from, the setting, the value (never a secret's) and why. */
function coerce(s: Setting, value: unknown, origin: string): unknown {
  try {
    return parseValue(s, value);
  } catch (err) {
    if (!(err instanceof BadValue)) throw err;
    const why = s.type === 'secret' ? 'not a valid value (hidden)' : err.message;
    throw new ConfigError(`${origin}: ${s.path}: ${why}`);
  }
}

function readYaml(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  // every setting has its default in the schema, so only a --config file needs the YAML parser
  const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  try {
    const doc = parse(text) as unknown;
    if (doc === null || doc === undefined) return {};
    if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error('top level must be a mapping');
    return doc as Tree;
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
  }
}

const KNOWN = new Set<string>(SETTINGS.flatMap((s: Setting) => (s.formerPath ? [s.path, s.formerPath] : [s.path])));

function checkUnknown(tree: Tree, origin: string, prefix = ''): void {
  for (const [k, v] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (KNOWN.has(path)) continue;
    if (v && typeof v === 'object' && !Array.isArray(v) && [...KNOWN].some((p) => p.startsWith(path + '.'))) {
      checkUnknown(v as Tree, origin, path);
      continue;
    }
    throw new ConfigError(`${origin}: unknown setting ${path}`);
  }
}

/**
 * A secret's value from the environment: `KEYSWITCH_X`, or the content of the
 * file named by `KEYSWITCH_X_FILE` (Docker and Compose secrets), its trailing
 * line break removed. Errors name the variable and the file, never the content.
 */
function fromEnvironment(s: Setting, name: string, env: NodeJS.ProcessEnv): string | undefined {
  const direct = env[name];
  const file = s.type === 'secret' ? env[`${name}_FILE`] : undefined;
  if (file === undefined || file === '') return direct;
  if (direct !== undefined && direct !== '') throw new ConfigError(`set ${name} or ${name}_FILE, not both`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const value = text.replace(/(\r?\n)+$/, '');
  if (value === '') throw new ConfigError(`${name}_FILE: ${file} is empty`);
  return value;
}

export interface LoadOptions {
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Flag values by setting path; undefined entries are ignored. */
  flags?: Record<string, unknown>;
  /** Where a deprecation warning goes (one line each); default: stderr. */
  warn?: (line: string) => void;
}

function warnOnStderr(line: string): void {
  process.stderr.write(`keyswitch: ${line}\n`);
}

/** The defaults: each setting's own, else (a setting declared without one) config/default.yaml's. */
function defaultsLayer(): Tree {
  const tree: Tree = {};
  let file: Tree | undefined;
  for (const s of SETTINGS as readonly Setting[]) {
    if (s.default !== undefined) setPath(tree, s.path, s.default);
    else {
      file ??= readYaml(DEFAULTS_FILE);
      const v = getPath(file, s.path);
      if (v !== undefined) setPath(tree, s.path, v);
    }
  }
  return tree;
}

/** A file's value, under the setting's path or its former one (with a warning). */
function fromFile(s: Setting, layer: Tree, origin: string, warn: (line: string) => void): unknown {
  const v = getPath(layer, s.path);
  if (!s.formerPath) return v;
  const old = getPath(layer, s.formerPath);
  if (old === undefined) return v;
  if (v !== undefined) throw new ConfigError(`${origin}: ${s.formerPath} is the former name of ${s.path}; set only ${s.path}`);
  warn(`${origin}: ${s.formerPath} is deprecated, read as ${s.path}; rename it`);
  return old;
}

/** The environment's value, under the setting's variable or its former one (with a warning). */
function fromEnv(s: Setting, env: NodeJS.ProcessEnv, warn: (line: string) => void): { value: string | undefined; name: string } {
  const v = fromEnvironment(s, s.env, env);
  if (!s.formerEnv) return { value: v, name: s.env };
  const old = fromEnvironment(s, s.formerEnv, env);
  if (old === undefined || old === '') return { value: v, name: s.env };
  if (v !== undefined && v !== '') throw new ConfigError(`${s.formerEnv} is the former name of ${s.env}; set only ${s.env}`);
  warn(`environment ${s.formerEnv} is deprecated, read as ${s.env} (${s.path}); rename it`);
  return { value: old, name: s.formerEnv };
}

/** defaults < config file < KEYSWITCH_* environment < flags */
export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  // A role process of `keyswitch up` (KEYSWITCH_UP_ROLE, src/cli/up-ipc.ts) reads what its supervisor read and warned about already.
  const warn = opts.warn ?? (env.KEYSWITCH_UP_ROLE ? () => {} : warnOnStderr);
  const settings = SETTINGS as readonly Setting[];
  const tree: Tree = {};
  const layers: [Tree, string][] = [[defaultsLayer(), 'defaults']];
  if (opts.configFile) layers.push([readYaml(opts.configFile), opts.configFile]);
  for (const [layer, origin] of layers) {
    checkUnknown(layer, origin);
    for (const s of settings) {
      const v = fromFile(s, layer, origin, warn);
      if (v !== undefined) setPath(tree, s.path, coerce(s, v, origin));
    }
  }
  for (const s of settings) {
    const { value, name } = fromEnv(s, env, warn);
    if (value !== undefined && value !== '') setPath(tree, s.path, coerce(s, value, `environment ${name}`));
    const f = opts.flags?.[s.path];
    if (f !== undefined) setPath(tree, s.path, coerce(s, f, `flag for ${s.path}`));
  }
  checkOrder(tree);
  const cfg = tree as unknown as Config;
  cfg.dataDir = resolve(cfg.dataDir);
  return cfg;
}

/**
 * Pairs of settings where the first is a floor or a start and the second its
 * ceiling: a ceiling set below its floor is an operator's slip, and each user
 * of the pair would otherwise resolve it its own way.
 */
const ORDERED: readonly [string, string][] = [
  ['up.restartFirstMs', 'up.restartMaxMs'],
  ['auc.lockout.baseSeconds', 'auc.lockout.maxSeconds'],
  ['softswitch.expires.minSeconds', 'softswitch.expires.maxSeconds'],
];

function checkOrder(tree: Tree): void {
  for (const [low, high] of ORDERED) {
    const [a, b] = [getPath(tree, low), getPath(tree, high)];
    if (typeof a === 'number' && typeof b === 'number' && b < a) throw new ConfigError(`${high} (${b}) is below ${low} (${a}); set ${high} at least as high`);
  }
}

/** The effective configuration with secrets hidden, for `keyswitch config`. */
export function describeConfig(cfg: Config): { path: string; env: string; value: string }[] {
  return (SETTINGS as readonly Setting[]).map((s) => {
    const v = getPath(cfg as unknown as Tree, s.path);
    const shown = s.type === 'secret' ? (v ? '(set)' : '(empty)') : formatValue(s, v);
    return { path: s.path, env: s.env, value: shown };
  });
}
