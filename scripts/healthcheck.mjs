#!/usr/bin/env node
// The image's HEALTHCHECK: GET each /healthz and exit 0 only when they answer 200.
//   node scripts/healthcheck.mjs [URL...]
// Without URLs, the endpoints of this container's configuration (KEYSWITCH_*
// environment, compiled loader in dist/): the API's /healthz (the AuC, or every
// role under `up`), softswitch.health and sbc.health. A container runs one role,
// so an endpoint whose port refuses the connection is one it does not serve and
// is skipped; any other failure (an answer other than 200, a timeout) is fatal,
// and so is no endpoint answering at all.
import http from 'node:http';

const TIMEOUT_MS = 4000;

function probe(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: TIMEOUT_MS }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? { ok: true } : { ok: false, why: `HTTP ${res.statusCode}` });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${TIMEOUT_MS} ms`)));
    req.on('error', (err) => resolve(err.code === 'ECONNREFUSED' ? { refused: true } : { ok: false, why: err.message }));
  });
}

function local(host) {
  return host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
}

function url(hostPort) {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(hostPort);
  if (!m) return undefined;
  const h = local(m[1]);
  return `http://${h.includes(':') ? `[${h}]` : h}:${m[2]}/healthz`;
}

async function configured() {
  const { loadConfig } = await import(new URL('../dist/src/config/load.js', import.meta.url).href);
  const cfg = loadConfig();
  // host:port settings arrive parsed: { host, port }, or undefined when empty
  const text = (at) => at && `${at.host.includes(':') ? `[${at.host}]` : at.host}:${at.port}`;
  return [url(`${cfg.auc.api.host}:${cfg.auc.api.port}`), cfg.softswitch.health && url(text(cfg.softswitch.health)), cfg.sbc.health && url(text(cfg.sbc.health))].filter(Boolean);
}

let urls = process.argv.slice(2);
if (urls.length === 0) {
  try {
    urls = await configured();
  } catch (err) {
    console.error(`healthcheck: cannot read the configuration (${err.message}); give the /healthz URLs as arguments`);
    process.exit(1);
  }
}
let answered = 0;
for (const u of urls) {
  const r = await probe(u);
  if (r.refused) continue;
  if (!r.ok) {
    console.error(`healthcheck: ${u}: ${r.why}`);
    process.exit(1);
  }
  answered++;
}
if (answered === 0) {
  console.error(`healthcheck: nothing listens at ${urls.join(', ')}`);
  process.exit(1);
}
console.log(`healthcheck: ${answered} healthy`);
