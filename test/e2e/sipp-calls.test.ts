/**
 * sipp phones calling each other through the SBC of `keyswitch up`: both
 * register with SIP Digest through the SBC (test/sipp/register-digest.xml, run
 * from the port each will use), then a sipp UAC places calls to a sipp UAS
 * (test/sipp/uac-call-sbc.xml, uas-answer-sbc.xml), answering the
 * softswitch's 407 for each new call with its Digest password. Every in-dialog request
 * the UAC sends rides the route set the SBC signed (sipp's rrs/[routes]), and
 * every answer the UAS sends echoes the Via and Record-Route the SBC signed.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ks, startDaemon, type Daemon } from '../helpers/cli.js';
import { freePorts, upEnv } from '../helpers/ports.js';

const hasSipp = ['/usr/bin', '/usr/local/bin'].some((d) => existsSync(join(d, 'sipp')));
if (!hasSipp) console.warn('[keyswitch tests] sipp not installed: sipp calls through the SBC SKIPPED');
const SCEN = join(import.meta.dirname, '..', 'sipp');
const CALLS = 5;

interface SippRun {
  code: number | null;
  out: string;
  successful: number;
  failed: number;
}

/** Runs sipp to its end; its own screen output is read so its pipe never fills. */
function sipp(args: string[], cwd: string): { done: Promise<SippRun> } {
  const p = spawn('sipp', [...args, '-nostdin', '-timeout', '30s', '-timeout_error', '-trace_err'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<SippRun>((resolve) =>
    p.on('close', (code) => {
      const cum = (label: string) => Number(new RegExp(`${label}\\s*\\|\\s*\\d+\\s*\\|\\s*(\\d+)`).exec(out)?.[1] ?? NaN);
      resolve({ code, out, successful: cum('Successful call'), failed: cum('Failed call') });
    }),
  );
  return { done };
}

/** sipp's error log for a scenario (written by -trace_err), for failure messages. */
function errorsOf(dir: string, scenario: string): string {
  const name = readdirSync(dir).find((f) => f.startsWith(scenario) && f.endsWith('_errors.log'));
  return name ? readFileSync(join(dir, name), 'utf8').slice(0, 4000) : '';
}

/** Resolves once something (the sipp UAS) holds this UDP port. */
async function bound(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const s = createSocket('udp4');
    const busy = await new Promise<boolean>((resolve) => {
      s.once('error', () => resolve(true));
      s.bind(port, '127.0.0.1', () => resolve(false));
    });
    await new Promise<void>((r) => (busy ? r() : s.close(() => r())));
    if (busy) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing bound udp ${port} in 10 s`);
}

(hasSipp ? describe : describe.skip)('sipp phones call each other through the SBC of keyswitch up (skipped without sipp)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-sipp-calls-'));
  const g = ['--data-dir', join(dir, 'data')];
  let daemon: Daemon;
  let sbc: string;
  let metricsPort: number;
  let callerPort: number;
  let calleePort: number;

  beforeAll(async () => {
    const up = await upEnv();
    const [metrics, caller, callee] = await freePorts(3);
    [metricsPort, callerPort, calleePort] = [metrics!, caller!, callee!];
    sbc = `127.0.0.1:${up.ports.sbcSip}`;
    const env: NodeJS.ProcessEnv = {
      ...up.env,
      KEYSWITCH_LOG_LEVEL: 'warn',
      KEYSWITCH_SBC_METRICS_PORT: String(metricsPort),
      // sipp reads only the first WWW-Authenticate and knows only MD5
      KEYSWITCH_DIGEST_ALGORITHMS: 'MD5,SHA-256',
    };
    for (const user of ['1000', '1001']) {
      const r = ks([...g, '--init', 'provision', 'terminal', `${user}@127.0.0.1`, '--sip-password', `pw-${user}`], env);
      expect(r.code, r.stderr).toBe(0);
    }
    ({ daemon } = await startDaemon([...g, 'up'], /SBC H\.248 \(gateways\)/, env));
    // each phone registers from the port it will call or answer on: the SBC reaches it there
    for (const [user, port] of [['1000', callerPort], ['1001', calleePort]] as const) {
      const r = await sipp(['-sf', join(SCEN, 'register-digest.xml'), '-m', '1', '-s', user, '-au', user, '-ap', `pw-${user}`, '-i', '127.0.0.1', '-p', String(port), sbc], dir).done;
      expect(r.code, `register ${user}: ${errorsOf(dir, 'register-digest')}\n${r.out.slice(-1500)}`).toBe(0);
    }
  }, 60_000);

  afterAll(async () => {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  // the caller answers the softswitch's 407 with its Digest password; the signed uri is the Request-URI
  const callerAuth = () => ['-au', '1000', '-ap', 'pw-1000', '-auth_uri', `1001@${sbc}`];

  const metric = async (line: RegExp): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const m = text.split('\n').find((l) => line.test(l));
    return m ? Number(m.split(' ').pop()) : 0;
  };
  const answeredFromTerminals = () => metric(/^keyswitch_sbc_calls_total\{.*leg="from-terminal".*result="answered"/);

  it(`places ${CALLS} calls INVITE, 180, 200, ACK, BYE, 200 from a Digest sipp UAC to a Digest sipp UAS`, async () => {
    const before = await answeredFromTerminals();
    const uas = sipp(['-sf', join(SCEN, 'uas-answer-sbc.xml'), '-s', '1001', '-m', String(CALLS), '-i', '127.0.0.1', '-p', String(calleePort)], dir);
    await bound(calleePort);
    const uac = await sipp(['-sf', join(SCEN, 'uac-call-sbc.xml'), '-s', '1001', '-key', 'caller', '1000', ...callerAuth(), '-m', String(CALLS), '-l', '2', '-i', '127.0.0.1', '-p', String(callerPort), sbc], dir).done;
    const callee = await uas.done;
    expect(uac.code, `UAC: ${errorsOf(dir, 'uac-call-sbc')}\n${uac.out.slice(-1500)}`).toBe(0);
    expect(callee.code, `UAS: ${errorsOf(dir, 'uas-answer-sbc')}\n${callee.out.slice(-1500)}`).toBe(0);
    expect({ successful: uac.successful, failed: uac.failed }).toEqual({ successful: CALLS, failed: 0 });
    expect({ successful: callee.successful, failed: callee.failed }).toEqual({ successful: CALLS, failed: 0 });
    // the SBC carried them as calls (signed Record-Route on the way), not as something else
    expect((await answeredFromTerminals()) - before).toBe(CALLS);
  }, 90_000);

  it('refuses a BYE that leaves out the signed route set (403), and the call still ends along it', async () => {
    const uas = sipp(['-sf', join(SCEN, 'uas-answer-sbc.xml'), '-s', '1001', '-m', '1', '-i', '127.0.0.1', '-p', String(calleePort)], dir);
    await bound(calleePort);
    const uac = await sipp(['-sf', join(SCEN, 'uac-bye-no-route-sbc.xml'), '-s', '1001', '-key', 'caller', '1000', ...callerAuth(), '-m', '1', '-i', '127.0.0.1', '-p', String(callerPort), sbc], dir).done;
    const callee = await uas.done;
    expect(uac.code, `UAC: ${errorsOf(dir, 'uac-bye-no-route-sbc')}\n${uac.out.slice(-1500)}`).toBe(0);
    expect(callee.code, `UAS: ${errorsOf(dir, 'uas-answer-sbc')}\n${callee.out.slice(-1500)}`).toBe(0);
    expect(await metric(/^keyswitch_sbc_signature_failures_total\{.*reason="missing"/)).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
