import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

/**
 * Ports free for both UDP and TCP on 127.0.0.1 and 0.0.0.0 right now, for
 * daemons that must be told their ports up front (roles pointing at each other).
 *
 * Drawn at random below the kernel's ephemeral range (32768–60999 on Linux):
 * a port taken from that range and handed back is soon given again to some
 * other test's `listen(0)` or outgoing socket, and the daemon told to use it
 * then fails with EADDRINUSE. Below the range, only another caller of this
 * function can take it, and it draws at random too.
 */
/**
 * Each vitest worker draws from its own eighth of that range: a port another
 * worker checked free and handed to a daemon that has not bound it yet (or
 * that is being restarted on it) is then never drawn here.
 */
const SLICE = 1_500;
const slot = Number(process.env.VITEST_POOL_ID ?? 0) % 8;
const LOW = 20_000 + slot * SLICE;
const HIGH = LOW + SLICE;

async function bindable(port: number): Promise<{ close(): void }[] | undefined> {
  const tcp = createServer();
  const tcpOk = await new Promise<boolean>((resolve) => {
    tcp.once('error', () => resolve(false));
    tcp.listen(port, '0.0.0.0', () => resolve(true));
  });
  if (!tcpOk) return undefined;
  const udp = createSocket('udp4');
  const udpOk = await new Promise<boolean>((resolve) => {
    udp.once('error', () => resolve(false));
    udp.bind(port, '0.0.0.0', () => resolve(true));
  });
  if (!udpOk) {
    tcp.close();
    udp.close();
    return undefined;
  }
  return [tcp, udp];
}

/**
 * Ports this test file was already given. A later call never hands one out
 * again: a test that draws its daemon's ports, then a few more for itself, got
 * the same port twice once (both free when checked, since none was bound yet).
 */
const given = new Set<number>();

export async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  const holders: { close(): void }[] = [];
  if (given.size > SLICE - 200) given.clear();
  for (let tries = 0; out.length < n; tries++) {
    if (tries > 10_000) throw new Error(`no ${n} free ports between ${LOW} and ${HIGH}`);
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (out.includes(port) || given.has(port)) continue;
    const held = await bindable(port);
    if (!held) continue;
    holders.push(...held);
    out.push(port);
  }
  for (const h of holders) h.close();
  for (const p of out) given.add(p);
  return out;
}

/**
 * A run of `n` consecutive free ports, for sipp's `-mp`: it binds the audio RTP port
 * and, for video, that port + 2 (and their RTCP ports + 1), all of them at once.
 */
export async function freePortRun(n: number): Promise<number> {
  for (let tries = 0; tries < 1_000; tries++) {
    const base = LOW + Math.floor(Math.random() * (HIGH - LOW - n));
    const ports = Array.from({ length: n }, (_, i) => base + i);
    if (ports.some((p) => given.has(p))) continue;
    const held: { close(): void }[] = [];
    let ok = true;
    for (const p of ports) {
      const h = await bindable(p);
      if (!h) {
        ok = false;
        break;
      }
      held.push(...h);
    }
    for (const h of held) h.close();
    if (!ok) continue;
    for (const p of ports) given.add(p);
    return base;
  }
  throw new Error(`no ${n} consecutive free ports between ${LOW} and ${HIGH}`);
}

/** Environment that puts every listener of `keyswitch up` on a free port, all on 127.0.0.1. */
export async function upEnv(): Promise<{ env: NodeJS.ProcessEnv; ports: Record<string, number> }> {
  const [api, rAuth, rAcct, dia, ssSip, ssMgcp, ssH248, sbcSip, sbcTls, sbcPsk, sbcMgcp, sbcH248, metrics, aucMetrics, ssH323, sbcH323, ssHealth, sbcHealth] = await freePorts(18);
  const ports = { api, rAuth, rAcct, dia, ssSip, ssMgcp, ssH248, sbcSip, sbcTls, sbcPsk, sbcMgcp, sbcH248, metrics, aucMetrics, ssH323, sbcH323, ssHealth, sbcHealth } as Record<string, number>;
  const env: NodeJS.ProcessEnv = {
    KEYSWITCH_API_PORT: String(api),
    KEYSWITCH_RADIUS_AUTH_PORT: String(rAuth),
    KEYSWITCH_RADIUS_ACCT_PORT: String(rAcct),
    KEYSWITCH_DIAMETER_PORT: String(dia),
    KEYSWITCH_SOFTSWITCH_PORT: String(ssSip),
    KEYSWITCH_SOFTSWITCH_MGCP_PORT: String(ssMgcp),
    KEYSWITCH_SOFTSWITCH_H248_PORT: String(ssH248),
    KEYSWITCH_SBC_HOST: '127.0.0.1',
    KEYSWITCH_SBC_UDP_PORT: String(sbcSip),
    KEYSWITCH_SBC_TCP_PORT: String(sbcSip),
    KEYSWITCH_SBC_TLS_PORT: String(sbcTls),
    KEYSWITCH_SBC_TLS_PSK_PORT: String(sbcPsk),
    KEYSWITCH_SBC_MGCP_PORT: String(sbcMgcp),
    KEYSWITCH_SBC_H248_PORT: String(sbcH248),
    KEYSWITCH_SBC_SOFTSWITCH: `127.0.0.1:${ssSip}`,
    KEYSWITCH_SBC_SOFTSWITCH_MGCP: `127.0.0.1:${ssMgcp}`,
    KEYSWITCH_SBC_SOFTSWITCH_H248: `127.0.0.1:${ssH248}`,
    KEYSWITCH_SOFTSWITCH_H323_PORT: String(ssH323),
    KEYSWITCH_SBC_H323_PORT: String(sbcH323),
    KEYSWITCH_SBC_SOFTSWITCH_H323: `127.0.0.1:${ssH323}`,
    // /metrics of `up` (metrics.address) and of `auc` run alone
    KEYSWITCH_METRICS_ADDRESS: `127.0.0.1:${metrics}`,
    KEYSWITCH_AUC_METRICS: `127.0.0.1:${aucMetrics}`,
    // /healthz and /metrics of the softswitch and the SBC run alone (fixed 9471/9472 by default)
    KEYSWITCH_SOFTSWITCH_HEALTH: `127.0.0.1:${ssHealth}`,
    KEYSWITCH_SBC_HEALTH: `127.0.0.1:${sbcHealth}`,
  };
  // the voicemail media server (docs/voicemail.md)
  let [media] = await freePorts(1);
  while (Object.values(ports).includes(media!)) [media] = await freePorts(1);
  ports.media = media!;
  env.KEYSWITCH_MEDIA_PORT = String(media);
  // the voicemail licence server (HTTPS; fixed 8443 by default)
  let [licence] = await freePorts(1);
  while (Object.values(ports).includes(licence!)) [licence] = await freePorts(1);
  ports.licence = licence!;
  env.KEYSWITCH_LICENCE_PORT = String(licence);
  return { env, ports };
}
