/**
 * Issue 8 item 3 against `keyswitch up` with the softswitch on Diameter: a
 * local process is no Diameter peer of the AuC. Each attack runs from its own
 * connection; the provisioned terminal registers through SBC, softswitch and
 * AuC afterwards.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AucUnavailableError } from '../../src/contracts/auc.js';
import { marVector, sarFailed } from '../../src/adapters/diameter/cx-auc.js';
import { encodeMessage, resultOf, RESULT } from '../../src/diameter/index.js';
import { peerPsk, pskClientOptions } from '../../src/diameter/tls-psk.js';
import { DiameterAucClient } from '../../src/adapters/diameter/auc-client.js';
import { ks, startDaemon, type Daemon } from '../helpers/cli.js';
import { upEnv } from '../helpers/ports.js';
import { cerBytes, cxRequest, rawPeer } from './helpers.js';

const ALICE = 'alice@lab.example';
const IDSP = 'sbc1.lab.example';

/** `keyswitch up` with the given extra environment; alice provisioned once it runs. */
async function up(extra: NodeJS.ProcessEnv) {
  const dir = mkdtempSync(join(tmpdir(), 'ks-up-dia-'));
  const dataDir = join(dir, 'data');
  const { env, ports } = await upEnv();
  const all = { ...env, KEYSWITCH_LOG_LEVEL: 'warn', KEYSWITCH_AUC_PROTOCOL: 'diameter', ...extra };
  const { daemon } = await startDaemon(['--data-dir', dataDir, 'up'], /SBC H\.248 \(gateways\)/, all);
  const r = ks(['--data-dir', dataDir, 'provision', 'terminal', ALICE, '--json'], all);
  if (r.code !== 0) throw new Error(`provision failed: ${r.stderr}`);
  const key = JSON.parse(r.stdout).key as string;
  const register = () => ks(['terminal', 'register', '--proto', 'sip', '--id', ALICE, '--key', key, '--sbc', `127.0.0.1:${ports.sbcSip}`, '--mechs', 'app-hmac;q=0.5']);
  return {
    dataDir,
    ports,
    daemon,
    register,
    async stop() {
      await daemon.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const evil = 'evil.attacker.example';
const mar = (h: number, host: string) => encodeMessage(cxRequest(303, h, marVector({ idc: ALICE, idsp: IDSP }, `sip:${host}`), host));
const sar = (h: number, host: string, rand?: Buffer) => encodeMessage(cxRequest(301, h, sarFailed({ idc: ALICE, idsp: IDSP, ...(rand ? { rand } : {}) }, `sip:${host}`), host));

describe('keyswitch up, AuC over plain Diameter: only the listed softswitch is a peer', () => {
  let sys: Awaited<ReturnType<typeof up>>;
  beforeAll(async () => {
    // Plain TCP so that the allow-list alone is what stops the rogue; ss2 is a second listed softswitch.
    sys = await up({ KEYSWITCH_DIAMETER_TLS: 'off', KEYSWITCH_DIAMETER_PEERS: 'softswitch.lab.example@127.0.0.1,ss2.lab.example@127.0.0.1' });
  });
  afterAll(async () => sys?.stop());

  it('answers a rogue local client named evil.attacker.example with 3010 and closes it; it obtains no vector', async () => {
    const raw = await rawPeer(sys.ports.dia!, undefined, evil);
    const cea = await raw.handshake();
    expect(resultOf(cea)?.code).toBe(RESULT.UNKNOWN_PEER);
    expect(await raw.waitFor(() => raw.closed)).toBe(true);

    // CER and MAR in one segment: only the refusal comes back
    const piped = await rawPeer(sys.ports.dia!);
    piped.socket.write(Buffer.concat([cerBytes(1, evil), mar(2, evil)]));
    expect(await piped.waitFor(() => piped.closed)).toBe(true);
    expect(piped.received.map((m) => [m.commandCode, resultOf(m)?.code])).toEqual([[257, RESULT.UNKNOWN_PEER]]);

    // a MAR with no CER at all: no answer, closed
    const bare = await rawPeer(sys.ports.dia!);
    bare.socket.write(mar(1, evil));
    expect(await bare.waitFor(() => bare.closed)).toBe(true);
    expect(bare.received).toHaveLength(0);
    expect(sys.daemon.output()).toMatch(/Diameter peer refused/);
  });

  it('does not let forged failure reports lock the user out: a rogue gets no answer, another listed softswitch 5003', async () => {
    const rogue = await rawPeer(sys.ports.dia!);
    rogue.socket.write(Buffer.concat([cerBytes(1, evil), ...[2, 3, 4, 5, 6, 7].map((h) => sar(h, evil))]));
    expect(await rogue.waitFor(() => rogue.closed)).toBe(true);
    expect(rogue.received).toHaveLength(1);

    // ss2 is a listed peer, but it asked for no challenge of alice's
    const ss2 = new DiameterAucClient({ peers: [{ host: '127.0.0.1', port: sys.ports.dia! }], originHost: 'ss2.lab.example', originRealm: 'lab.example', destinationRealm: 'lab.example', timeoutMs: 1500 });
    try {
      expect(await ss2.ready(3000)).toBe(true);
      for (let i = 0; i < 6; i++) {
        await expect(ss2.failed({ idc: ALICE, idsp: IDSP, rand: randomBytes(16) })).rejects.toBeInstanceOf(AucUnavailableError);
        await expect(ss2.failed({ idc: ALICE, idsp: IDSP })).rejects.toBeInstanceOf(AucUnavailableError);
      }
    } finally {
      await ss2.close();
    }
    // the same from a raw connection of ss2, to read the answers themselves: 5003, each
    const raw = await rawPeer(sys.ports.dia!, undefined, 'ss2.lab.example');
    expect(resultOf(await raw.handshake())?.code).toBe(RESULT.SUCCESS);
    raw.socket.write(Buffer.concat([2, 3, 4].map((h) => sar(h, 'ss2.lab.example', h === 2 ? undefined : randomBytes(16)))));
    expect(await raw.waitFor(() => raw.received.length >= 4)).toBe(true);
    expect(raw.received.slice(1).map((m) => [m.commandCode, resultOf(m)?.code])).toEqual([2, 3, 4].map(() => [301, RESULT.AUTHORIZATION_REJECTED]));
    raw.socket.destroy();
    const r = sys.register();
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});

describe('keyswitch up, AuC over Diameter as configured by default (TLS-PSK)', () => {
  let sys: Awaited<ReturnType<typeof up>>;
  beforeAll(async () => {
    sys = await up({});
  });
  afterAll(async () => sys?.stop());

  /** A TLS-PSK connection with any identity and key; rejects when the handshake fails. */
  const tlsSocket = (identity: string, key: Buffer) =>
    new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: sys.ports.dia!, ...pskClientOptions(identity, key) });
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    });

  it('registers a terminal through SBC, softswitch and AuC with Diameter over TLS-PSK', () => {
    expect(sys.daemon.output()).toMatch(/AuC Diameter \(Cx\)\s+127\.0\.0\.1 tls-psk \d+/);
    const r = sys.register();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(statSync(join(sys.dataDir, 'diameter.psk')).mode & 0o777).toBe(0o600);
  });

  it('refuses a plain-TCP peer on the TLS port, even one naming the softswitch: no CEA, closed', async () => {
    const raw = await rawPeer(sys.ports.dia!, undefined, 'softswitch.lab.example');
    raw.socket.write(Buffer.concat([cerBytes(1, 'softswitch.lab.example'), mar(2, 'softswitch.lab.example')]));
    expect(await raw.waitFor(() => raw.closed)).toBe(true);
    expect(raw.received).toHaveLength(0);
  });

  it('fails the TLS handshake of a local process without the key, whatever name it gives', async () => {
    await expect(tlsSocket('softswitch.lab.example', randomBytes(32))).rejects.toThrow();
    await expect(tlsSocket(evil, randomBytes(32))).rejects.toThrow();
    // what opens the door is the key in the data directory (mode 0600), not the name
    const secret = Buffer.from(readFileSync(join(sys.dataDir, 'diameter.psk'), 'utf8').trim(), 'hex');
    const s = await tlsSocket('softswitch.lab.example', peerPsk(secret, 'softswitch.lab.example'));
    const raw = await rawPeer(sys.ports.dia!, s, 'softswitch.lab.example');
    expect(resultOf(await raw.handshake())?.code).toBe(RESULT.SUCCESS);
    raw.close();
    const r = sys.register();
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});
