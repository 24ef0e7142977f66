#!/usr/bin/env node
// Builds the Dockerfile's image without a Docker engine: reads the Dockerfile
// and runs its own steps (COPY, RUN, ENV, WORKDIR, USER, ...) into a staging
// directory, one folder per stage, then with --check starts the staged
// ENTRYPOINT/CMD (`keyswitch up`) as the image's user and checks it.
//
//   node scripts/stage-image.mjs [--out DIR] [--check] [--keep]
//   node scripts/stage-image.mjs --out DIR --again --check    (check what an earlier run staged there)
//
// What stands in for what (docs/deploy.md, "The image without Docker"):
// - the base image is this machine: its Node (the one running this script,
//   first on PATH for RUN steps), npm and compilers;
// - an absolute path in COPY, WORKDIR or an ENV value is taken inside the
//   stage's folder; RUN commands run in the stage's WORKDIR folder, so they
//   must use relative paths (the Dockerfile's do);
// - USER node is uid/gid 1000 (the official Node images' user): files COPY'd
//   with --chown get it, and --check runs the server and the HEALTHCHECK with it
//   (through setpriv, when this script runs as root; as the caller otherwise).
// An instruction it does not know stops it: the Dockerfile may not drift away
// from what is checked here.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const CONTEXT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const USERS = { root: 0, node: 1000 };

/** Dockerfile instructions: comments and line continuations resolved. */
export function parseDockerfile(text) {
  const out = [];
  let buf = '';
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (!buf && /^\s*#/.test(line)) continue;
    if (buf && /^\s*#/.test(line)) continue;
    if (/\\\s*$/.test(line)) {
      buf += line.replace(/\\\s*$/, ' ');
      continue;
    }
    buf += line;
    const t = buf.trim();
    buf = '';
    if (!t) continue;
    const m = /^(\S+)\s*(.*)$/.exec(t);
    out.push({ op: m[1].toUpperCase(), args: m[2] });
  }
  return out;
}

function words(args) {
  return args.trim().startsWith('[') ? JSON.parse(args) : args.trim().split(/\s+/);
}

/** Leading --flag=value options of COPY / HEALTHCHECK. */
function flags(list) {
  const f = {};
  while (list[0]?.startsWith('--')) {
    const [k, v] = list.shift().slice(2).split('=');
    f[k] = v ?? true;
  }
  return f;
}

function envPairs(args) {
  const pairs = [];
  const re = /([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|(\S*))/g;
  let m;
  if (!/=/.test(args.split(/\s+/)[0])) {
    const [k, ...v] = args.trim().split(/\s+/);
    return [[k, v.join(' ')]];
  }
  while ((m = re.exec(args))) pairs.push([m[1], m[3] ?? m[4]]);
  return pairs;
}

function subst(text, vars) {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, a, b) => vars[a ?? b] ?? '');
}

/** .dockerignore patterns to a predicate on context-relative POSIX paths. */
export function dockerignore(text) {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const neg = l.startsWith('!');
      const p = posix.normalize((neg ? l.slice(1) : l).replace(/^\/+/, ''));
      let re = '';
      for (let i = 0; i < p.length; i++) {
        const c = p[i];
        if (c === '*' && p[i + 1] === '*') {
          re += p[i + 2] === '/' ? '(?:.*/)?' : '.*';
          i += p[i + 2] === '/' ? 2 : 1;
        } else if (c === '*') re += '[^/]*';
        else if (c === '?') re += '[^/]';
        else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { neg, re: new RegExp(`^${re}(?:/.*)?$`) };
    });
  return (path) => {
    let ignored = false;
    for (const r of rules) if (r.re.test(path)) ignored = !r.neg;
    return ignored;
  };
}

function inside(root, path) {
  return join(root, path.startsWith('/') ? path : path);
}

function chownTree(path, uid) {
  chownSync(path, uid, uid);
  if (lstatSync(path).isDirectory()) for (const e of readdirSync(path)) chownTree(join(path, e), uid);
}

function log(msg) {
  process.stdout.write(`stage-image: ${msg}\n`);
}

/**
 * Runs every stage of the Dockerfile into `out` (a folder per stage).
 * Returns the final stage: its folder, WORKDIR, ENV, USER, ENTRYPOINT, CMD and HEALTHCHECK.
 */
export function stage({ out, context = CONTEXT, dockerfile = join(context, 'Dockerfile'), dry = false } = {}) {
  const ignored = existsSync(join(context, '.dockerignore')) ? dockerignore(readFileSync(join(context, '.dockerignore'), 'utf8')) : () => false;
  const args = {};
  const stages = new Map();
  let cur;
  const runEnv = () => ({ ...process.env, ...cur.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}` });
  for (const { op, args: a } of parseDockerfile(readFileSync(dockerfile, 'utf8'))) {
    if (op === 'ARG') {
      const [k, v] = a.split('=');
      if (!cur) args[k.trim()] = v ?? '';
      continue;
    }
    if (op === 'FROM') {
      const [image, as, name] = subst(a, args).split(/\s+/);
      const id = as?.toUpperCase() === 'AS' ? name : String(stages.size);
      const root = join(out, id);
      mkdirSync(root, { recursive: true });
      cur = { id, image, root, workdir: '/', env: {}, user: 'root', entrypoint: [], cmd: [], healthcheck: undefined, volumes: [], expose: [] };
      stages.set(id, cur);
      log(`FROM ${image} (stage ${id}: this machine's Node ${process.version})`);
      continue;
    }
    if (!cur) throw new Error(`${op} before FROM`);
    const cwd = inside(cur.root, cur.workdir);
    if (dry && (op === 'COPY' || op === 'RUN')) continue;
    switch (op) {
      case 'WORKDIR':
        cur.workdir = posix.resolve(cur.workdir, subst(a.trim(), cur.env));
        mkdirSync(inside(cur.root, cur.workdir), { recursive: true });
        break;
      case 'ENV':
        for (const [k, v] of envPairs(a)) cur.env[k] = subst(v, cur.env);
        break;
      case 'COPY': {
        const list = words(a);
        const f = flags(list);
        const dest = list.pop();
        const destAbs = inside(cur.root, posix.resolve(cur.workdir, dest));
        const from = f.from ? stages.get(f.from) : undefined;
        if (f.from && !from) throw new Error(`COPY --from=${f.from}: no such stage`);
        for (const src of list) {
          const base = from ? inside(from.root, posix.resolve(from.workdir, src)) : join(context, src);
          if (!existsSync(base)) throw new Error(`COPY ${src}: not found${from ? ` in stage ${from.id}` : ' in the build context'}`);
          const isDir = statSync(base).isDirectory();
          const target = isDir || dest.endsWith('/') || list.length > 1 ? (isDir ? destAbs : join(destAbs, basename(base))) : destAbs;
          mkdirSync(isDir ? target : dirname(target), { recursive: true });
          cpSync(base, target, {
            recursive: true,
            filter: (p) => from !== undefined || !ignored(relative(context, p).split('\\').join('/')) || p === base,
          });
          if (f.chown) {
            const uid = USERS[f.chown.split(':')[0]];
            if (uid === undefined) throw new Error(`COPY --chown=${f.chown}: unknown user`);
            if (process.getuid?.() === 0) chownTree(target, uid);
          }
        }
        log(`COPY ${a}`);
        break;
      }
      case 'RUN': {
        const cmd = a.trim().startsWith('[') ? JSON.parse(a) : ['sh', '-c', a];
        log(`RUN ${a}`);
        const r = spawnSync(cmd[0], cmd.slice(1), { cwd, env: runEnv(), stdio: ['ignore', 'inherit', 'inherit'] });
        if (r.status !== 0) throw new Error(`RUN ${a}: exit ${r.status ?? r.signal}`);
        break;
      }
      case 'USER':
        if (USERS[a.trim()] === undefined) throw new Error(`USER ${a}: unknown user`);
        cur.user = a.trim();
        break;
      case 'VOLUME':
        cur.volumes.push(...words(a));
        break;
      case 'EXPOSE':
        cur.expose.push(...words(a));
        break;
      case 'ENTRYPOINT':
        cur.entrypoint = words(a);
        break;
      case 'CMD':
        cur.cmd = words(a);
        break;
      case 'HEALTHCHECK': {
        const list = a.trim().split(/\s+/);
        const f = flags(list);
        if (list.shift()?.toUpperCase() !== 'CMD') throw new Error('HEALTHCHECK: only HEALTHCHECK [options] CMD [...] is staged');
        cur.healthcheck = { options: f, cmd: words(list.join(' ')) };
        break;
      }
      case 'LABEL':
        break;
      default:
        throw new Error(`${op}: an instruction this script does not stage (teach it, or keep to the ones it knows)`);
    }
  }
  return cur;
}

/** How to run a command of the final stage: its user, WORKDIR, ENV (absolute paths inside the stage). */
export function runner(img) {
  const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}`, HOME: join(img.root, 'home', img.user) };
  // Nothing of the caller's configuration leaks into the staged image; KEYSWITCH_FROM_SOURCE would run src/ (there is none).
  for (const k of Object.keys(env)) if (k.startsWith('KEYSWITCH_') || k.startsWith('npm_')) delete env[k];
  for (const [k, v] of Object.entries(img.env)) env[k] = v.startsWith('/') ? inside(img.root, v) : v;
  mkdirSync(env.HOME, { recursive: true });
  const uid = USERS[img.user];
  const asUser = process.getuid?.() === 0 && uid !== 0;
  if (asUser) chownSync(env.HOME, uid, uid);
  const cwd = inside(img.root, img.workdir);
  const argv = (cmd) => (asUser ? ['setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', ...cmd]] : [cmd[0], cmd.slice(1)]);
  return {
    cwd,
    asUser,
    spawn: (cmd, extra = {}) => {
      const [bin, rest] = argv(cmd);
      return spawn(bin, rest, { cwd, env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
    },
    run: (cmd, extra = {}, input = undefined) => {
      const [bin, rest] = argv(cmd);
      return spawnSync(bin, rest, { cwd, env: { ...env, ...extra }, input, encoding: 'utf8', timeout: 60_000 });
    },
  };
}

async function freePorts(n) {
  const out = [];
  const held = [];
  while (out.length < n) {
    const tcp = createServer();
    await new Promise((r) => tcp.listen(0, '127.0.0.1', r));
    const port = tcp.address().port;
    held.push(tcp);
    const udp = createSocket('udp4');
    const ok = await new Promise((r) => {
      udp.once('error', () => r(false));
      udp.bind(port, '127.0.0.1', () => r(true));
    });
    if (ok) {
      held.push(udp);
      out.push(port);
    } else udp.close();
  }
  for (const h of held) h.close();
  return out;
}

/** Starts the staged `keyswitch up` and checks what the image promises. */
async function check(img) {
  const results = [];
  const ok = (name, pass, detail = '') => {
    results.push(pass);
    log(`${pass ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
  };
  const app = inside(img.root, img.workdir);
  ok('production dependencies only (no tsx, typescript, vitest)', !['tsx', 'typescript', 'vitest'].some((p) => existsSync(join(app, 'node_modules', p))));
  ok('compiled code, no TypeScript sources', existsSync(join(app, 'dist', 'src', 'cli', 'main.js')) && !existsSync(join(app, 'src')));
  ok(`USER ${img.user} is not root`, img.user !== 'root');
  const dataDir = img.env.KEYSWITCH_DATA_DIR;
  ok(`data directory ${dataDir} is a VOLUME`, Boolean(dataDir) && img.volumes.includes(dataDir));
  if (process.getuid?.() === 0) ok(`data directory owned by ${img.user} (uid ${USERS[img.user]})`, statSync(inside(img.root, dataDir)).uid === USERS[img.user]);
  ok('HEALTHCHECK present', Boolean(img.healthcheck));
  const r = runner(img);
  const [api, rAuth, rAcct, dia, ssSip, ssMgcp, ssH248, sbcSip, sbcTls, sbcPsk, sbcMgcp, sbcH248, ssHealth, sbcHealth] = await freePorts(14);
  const env = {
    KEYSWITCH_API_PORT: String(api), KEYSWITCH_RADIUS_AUTH_PORT: String(rAuth), KEYSWITCH_RADIUS_ACCT_PORT: String(rAcct), KEYSWITCH_DIAMETER_PORT: String(dia),
    KEYSWITCH_SOFTSWITCH_PORT: String(ssSip), KEYSWITCH_SOFTSWITCH_MGCP_PORT: String(ssMgcp), KEYSWITCH_SOFTSWITCH_H248_PORT: String(ssH248),
    KEYSWITCH_SBC_HOST: '127.0.0.1', KEYSWITCH_SBC_UDP_PORT: String(sbcSip), KEYSWITCH_SBC_TCP_PORT: String(sbcSip), KEYSWITCH_SBC_TLS_PORT: String(sbcTls),
    KEYSWITCH_SBC_TLS_PSK_PORT: String(sbcPsk), KEYSWITCH_SBC_MGCP_PORT: String(sbcMgcp), KEYSWITCH_SBC_H248_PORT: String(sbcH248),
    KEYSWITCH_SBC_SOFTSWITCH: `127.0.0.1:${ssSip}`, KEYSWITCH_SBC_SOFTSWITCH_MGCP: `127.0.0.1:${ssMgcp}`, KEYSWITCH_SBC_SOFTSWITCH_H248: `127.0.0.1:${ssH248}`,
    // not served under `up`, but the HEALTHCHECK probes them: free ports, not another process's defaults
    KEYSWITCH_SOFTSWITCH_HEALTH: `127.0.0.1:${ssHealth}`, KEYSWITCH_SBC_HEALTH: `127.0.0.1:${sbcHealth}`,
    KEYSWITCH_LOG_LEVEL: 'warn',
  };
  const server = r.spawn([...img.entrypoint, ...img.cmd], env);
  let out = '';
  server.stdout.on('data', (d) => (out += d));
  server.stderr.on('data', (d) => (out += d));
  const up = await new Promise((res) => {
    const t = setTimeout(() => res(false), 60_000);
    const onData = () => {
      if (/SBC H\.248 \(gateways\)/.test(out)) {
        clearTimeout(t);
        res(true);
      }
    };
    server.stdout.on('data', onData);
    server.once('exit', () => {
      clearTimeout(t);
      res(false);
    });
  });
  ok(`${[...img.entrypoint, ...img.cmd].join(' ')} starts${r.asUser ? ` as uid ${USERS[img.user]}` : ''}`, up, up ? '' : out.slice(-2000));
  try {
    if (up) {
      const hc = r.run(img.healthcheck.cmd, env);
      ok(`HEALTHCHECK ${img.healthcheck.cmd.join(' ')}`, hc.status === 0, (hc.stdout + hc.stderr).trim());
      const res = await fetch(`http://127.0.0.1:${api}/healthz`);
      ok('GET /healthz of the API answers 200', res.status === 200, String(res.status));
      const ks = (args) => r.run([...img.entrypoint, ...args], env);
      const prov = ks(['provision', 'terminal', 'alice@lab.example', '--json']);
      ok('the staged CLI provisions a terminal', prov.status === 0, prov.status === 0 ? '' : prov.stderr);
      if (prov.status === 0) {
        const { key } = JSON.parse(prov.stdout);
        const withKey = r.run([...img.entrypoint, 'terminal', 'register', '--proto', 'sip', '--id', 'alice@lab.example', '--key-stdin', '--sbc', `127.0.0.1:${sbcSip}`, '--mechs', 'app-hmac;q=0.5'], env, key + '\n');
        const line = withKey.stdout.trim().split('\n').pop() ?? '';
        ok('a terminal registers through the staged SBC, softswitch and AuC', withKey.status === 0 && /"ok":true/.test(line), withKey.status === 0 ? '' : withKey.stdout + withKey.stderr);
      }
    }
  } finally {
    if (server.exitCode === null && server.signalCode === null) {
      const code = await new Promise((res) => {
        server.once('exit', (c, s) => res(c ?? s));
        server.kill('SIGTERM');
      });
      ok('stops cleanly on SIGTERM (docker stop)', code === 0, String(code));
    }
  }
  if (up) {
    const hc = r.run(img.healthcheck.cmd, env);
    ok('HEALTHCHECK fails once the server is gone', hc.status !== 0, `exit ${hc.status}`);
  }
  const failed = results.filter((x) => !x).length;
  log(`${results.length - failed} passed, ${failed} failed`);
  return failed === 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const opt = (name) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const keep = argv.includes('--keep');
  const out = opt('--out') ?? mkdtempSync(join(tmpdir(), 'keyswitch-image-'));
  const again = argv.includes('--again');
  mkdirSync(out, { recursive: true });
  if (!again && readdirSync(out).length > 0) {
    process.stderr.write(`stage-image: ${out} is not empty\n`);
    process.exit(1);
  }
  // the image's user must reach the staged files
  chmodSync(out, 0o755);
  let code = 1;
  try {
    const started = Date.now();
    const img = stage({ out, dry: again });
    log(`staged in ${((Date.now() - started) / 1000).toFixed(0)} s into ${img.root}`);
    code = argv.includes('--check') ? ((await check(img)) ? 0 : 1) : 0;
  } catch (err) {
    process.stderr.write(`stage-image: ${err.message}\n`);
  } finally {
    if (!keep && !opt('--out')) rmSync(out, { recursive: true, force: true });
  }
  process.exit(code);
}
