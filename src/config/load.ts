import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { SETTINGS, type Setting } from './settings.js';

export interface Config {
  dataDir: string;
  db: { url: string };
  masterKey: string;
  log: { level: string };
  health: { minFreeMb: number };
  /** The Prometheus endpoint of `keyswitch up` (docs/metrics.md). */
  metrics: { address: string };
  /** The SBC ↔ softswitch link signature key (docs/sip-core-link.md). */
  coreLink: { key: string };
  auc: {
    api: { host: string; port: number; bodyLimit: number };
    console: { sessionIdleSeconds: number; sessionMaxSeconds: number; secureCookie: string };
    metrics: string;
    challengeTtlSeconds: number;
    lockout: { threshold: number; windowSeconds: number; baseSeconds: number; maxSeconds: number };
    radius: { host: string; authPort: number; acctPort: number; secret: string; clients: string };
    diameter: { host: string; port: number; originHost: string; originRealm: string; peers: string; tls: string; psk: string };
  };
  softswitch: {
    sip: { host: string; port: number; tlsPskPort: number };
    mgcpPort: number;
    h248Port: number;
    h323Port: number;
    digestAlgorithms: string;
    digestMaxNonces: number;
    digestNoncesPerIdentity: number;
    metricsPort: number;
    health: string;
    realm: string;
    trustedSbcs: string;
    identity: string;
    key: string;
    expires: { min: number; max: number; default: number };
    auc: { protocol: string; peers: string; timeoutMs: number; originHost: string; psk: string };
  };
  sbc: {
    idsp: string;
    key: string;
    host: string;
    advertise: string;
    coreAddress: string;
    udpPort: number;
    tcpPort: number;
    tlsPort: number;
    tlsPskPort: number;
    softswitch: string;
    mgcpPort: number;
    h248Port: number;
    softswitchMgcp: string;
    softswitchH248: string;
    h323Port: number;
    softswitchH323: string;
    mechanisms: string;
    tls: { certFile: string; keyFile: string };
    metricsPort: number;
    metricsHost: string;
    health: string;
    connections: { maxPerSource: number; max: number; handshakeTimeoutMs: number; messageTimeoutMs: number; idleSeconds: number; flowIdleSeconds: number };
    signing: {
      enabled: string;
      rotateSeconds: number;
      viaLifetimeSeconds: number;
      routeLifetimeSeconds: number;
      poolCert: string;
      poolKey: string;
      aliases: string;
      guardThreshold: number;
      guardWindowMs: number;
      guardBlockSeconds: number;
    };
  };
}

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

function coerce(s: Setting, value: unknown, origin: string): unknown {
  if (s.type === 'int') {
    const n = typeof value === 'number' ? value : Number(String(value).trim());
    if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${origin}: ${s.path} must be a whole number ≥ 0, got ${JSON.stringify(value)}`);
    return n;
  }
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') throw new ConfigError(`${origin}: ${s.path} must be a string`);
  return String(value);
}

function readYaml(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  try {
    const doc = parseYaml(text) as unknown;
    if (doc === null || doc === undefined) return {};
    if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error('top level must be a mapping');
    return doc as Tree;
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
  }
}

const KNOWN = new Set(SETTINGS.map((s) => s.path));

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
function fromEnvironment(s: Setting, env: NodeJS.ProcessEnv): string | undefined {
  const direct = env[s.env];
  const file = s.type === 'secret' ? env[`${s.env}_FILE`] : undefined;
  if (file === undefined || file === '') return direct;
  if (direct !== undefined && direct !== '') throw new ConfigError(`set ${s.env} or ${s.env}_FILE, not both`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${s.env}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const value = text.replace(/(\r?\n)+$/, '');
  if (value === '') throw new ConfigError(`${s.env}_FILE: ${file} is empty`);
  return value;
}

export interface LoadOptions {
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Flag values by setting path; undefined entries are ignored. */
  flags?: Record<string, unknown>;
}

/** defaults < config file < KEYSWITCH_* environment < flags */
export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const tree: Tree = {};
  const layers: [Tree, string][] = [[readYaml(DEFAULTS_FILE), DEFAULTS_FILE]];
  if (opts.configFile) layers.push([readYaml(opts.configFile), opts.configFile]);
  for (const [layer, origin] of layers) {
    checkUnknown(layer, origin);
    for (const s of SETTINGS) {
      const v = getPath(layer, s.path);
      if (v !== undefined) setPath(tree, s.path, coerce(s, v, origin));
    }
  }
  for (const s of SETTINGS) {
    const v = fromEnvironment(s, env);
    if (v !== undefined && v !== '') setPath(tree, s.path, coerce(s, v, `environment ${s.env}`));
    const f = opts.flags?.[s.path];
    if (f !== undefined) setPath(tree, s.path, coerce(s, f, `flag for ${s.path}`));
  }
  const cfg = tree as unknown as Config;
  cfg.dataDir = resolve(cfg.dataDir);
  return cfg;
}

/** The effective configuration with secrets hidden, for `keyswitch config`. */
export function describeConfig(cfg: Config): { path: string; env: string; value: string }[] {
  return SETTINGS.map((s) => {
    const v = getPath(cfg as unknown as Tree, s.path);
    const shown = s.type === 'secret' ? (v ? '(set)' : '(empty)') : String(v);
    return { path: s.path, env: s.env, value: shown };
  });
}
