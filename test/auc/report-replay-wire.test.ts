/**
 * docs/security.md, "AuC peers": a registration report (s11) on a used Rand,
 * or on one the AuC never issued, played on the wire against `keyswitch up`,
 * over RADIUS and over Diameter. The attacker holds the softswitch's
 * credentials (an allowed RADIUS client with the shared secret; a connection
 * that names the listed softswitch) and sends from its own socket. What it
 * replays is what a real registration sent, captured at a relay between the
 * softswitch and the AuC. The AuC is read as an operator reads it (the CLI).
 * Once more over Diameter with the challenges shared through Redis, as several
 * AuC instances keep them (docs/scale-out.md): there the check and the mark of
 * a Rand are one script on the server.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseSar, sarRegistered } from '../../src/adapters/diameter/cx-auc.js';
import { registeredAttributes } from '../../src/adapters/radius/auc-attributes.js';
import type { RegistrationReport } from '../../src/contracts/auc.js';
import { decodeMessage, DiameterFramer, encodeMessage, getString, resultOf, RESULT } from '../../src/diameter/index.js';
import { decodePacket, encodePacket, stringAttr, vendorDate, vendorOctets, vendorString } from '../../src/radius/codec.js';
import { RadiusCode } from '../../src/radius/dictionary.js';
import { openDb } from '../../src/store/index.js';
import { cxRequest, rawPeer, tcpProxy } from '../diameter/helpers.js';
import { ksAsync } from '../helpers/cli.js';
import { describeEngines, makeContext, PG_URL, type EngineContext } from '../helpers/engines.js';
import { describeRedis, startRedis, type TestRedis } from '../helpers/redis.js';
import { freePortRun } from '../helpers/ports.js';
import { udpRelay } from '../helpers/udp-relay.js';
import { startUp, type Up } from '../helpers/up.js';
import { sendRaw } from '../radius/setup.js';

const ALICE = 'alice@lab.example';

interface Captured {
  bytes: Buffer;
  report: RegistrationReport & { rand: Buffer };
}

/** One AuC link as the attacker sees it: what the softswitch sent on it, and a socket of its own to send with. */
interface Link {
  /** The environment that puts a capturing relay between softswitch and AuC. */
  env(ports: Record<string, number>): Promise<NodeJS.ProcessEnv>;
  /** The KS1 registration reports the softswitch sent so far. */
  reports(): Captured[];
  /** The report `template` with other values, signed or named with the softswitch's credentials. */
  rebuild(up: Up, template: Captured, change: Partial<RegistrationReport>): Buffer;
  /** Sends `bytes` to the AuC from a new socket; what came back, as the claim words it. */
  attack(up: Up, bytes: Buffer): Promise<unknown>;
  /** What `attack` gives for a refused report. */
  refused: unknown;
  close(): Promise<void>;
}

function radiusLink(): Link {
  let relays: Awaited<ReturnType<typeof udpRelay>>[] = [];
  const reportOf = (bytes: Buffer): Captured | undefined => {
    const d = decodePacket(bytes);
    if (!d.ok || d.packet.view.code !== RadiusCode.AccountingRequest || d.packet.attributes['Acct-Status-Type'] !== 'Start') return undefined;
    const p = d.packet;
    const rand = vendorOctets(p, 'Keyswitch-Rand');
    if (!rand) return undefined;
    const report = {
      idc: stringAttr(p, 'User-Name')!,
      idsp: stringAttr(p, 'NAS-Identifier')!,
      ipc: vendorString(p, 'Keyswitch-Terminal-Address')!,
      protocol: vendorString(p, 'Keyswitch-Protocol')!,
      contact: vendorString(p, 'Keyswitch-Contact')!,
      mechanism: vendorString(p, 'Keyswitch-Mechanism') ?? '',
      expiresAt: vendorDate(p, 'Keyswitch-Registration-Expires')!.getTime(),
      rand,
    };
    return { bytes, report };
  };
  return {
    async env(ports) {
      // the softswitch sends accounting to the peer's port + 1
      const base = await freePortRun(2);
      relays = [await udpRelay(base, ports.rAuth!), await udpRelay(base + 1, ports.rAcct!)];
      return { KEYSWITCH_AUC_PROTOCOL: 'radius', KEYSWITCH_AUC_PEERS: `127.0.0.1:${base}` };
    },
    reports: () => relays[1]!.sent.flatMap((b) => reportOf(b) ?? []),
    rebuild(up, template, change) {
      const secret = Buffer.from(readFileSync(join(up.dir, 'data', 'radius.secret'), 'utf8').trim());
      return encodePacket({ code: RadiusCode.AccountingRequest, identifier: randomBytes(1)[0]!, secret, attributes: registeredAttributes({ ...template.report, ...change }) });
    },
    // an allowed client (loopback) on a port of its own; "no datagram within 400 ms" stands for "no answer"
    attack: (up, bytes) => sendRaw(up.ports.rAcct!, bytes, 400),
    refused: [],
    async close() {
      for (const r of relays) await r.close();
    },
  };
}

function diameterLink(): Link {
  let proxy: Awaited<ReturnType<typeof tcpProxy>> | undefined;
  const captured: Captured[] = [];
  return {
    async env(ports) {
      proxy = await tcpProxy(ports.dia!);
      const framers = new Map<Socket, DiameterFramer>();
      proxy.tap((dir, chunk, client) => {
        if (dir !== 'up') return;
        let framer = framers.get(client);
        if (!framer) framers.set(client, (framer = new DiameterFramer(1 << 20)));
        framer.push(chunk, (m) => {
          const bytes = Buffer.from(m);
          const msg = decodeMessage(bytes);
          if (msg.commandCode !== 301) return;
          const sar = parseSar(msg);
          if (sar.kind === 'registered' && sar.report.rand) captured.push({ bytes, report: { ...sar.report, rand: sar.report.rand } });
        });
      });
      // Plain TCP, so that the relay reads the real SAR; the peer allow-list still applies (TLS-PSK: diameter/up-peers).
      return { KEYSWITCH_AUC_PROTOCOL: 'diameter', KEYSWITCH_DIAMETER_TLS: 'off', KEYSWITCH_AUC_PEERS: `127.0.0.1:${proxy.port}` };
    },
    reports: () => captured,
    rebuild(_up, template, change) {
      const m = decodeMessage(template.bytes);
      const hop = randomBytes(4).readUInt32BE();
      return encodeMessage(cxRequest(301, hop, sarRegistered({ ...template.report, ...change }, getString(m.avps, 'Server-Name')!), getString(m.avps, 'Origin-Host')!));
    },
    async attack(up, bytes) {
      // a connection of its own that names the softswitch, as the softswitch's captured request does
      const softswitch = getString(decodeMessage(bytes).avps, 'Origin-Host')!;
      const raw = await rawPeer(up.ports.dia!, undefined, softswitch);
      try {
        expect(resultOf(await raw.handshake())?.code).toBe(RESULT.SUCCESS);
        raw.socket.write(bytes);
        await raw.waitFor(() => raw.closed || raw.received.length >= 2);
        return raw.received.slice(1).map((a) => [a.commandCode, resultOf(a)?.code]);
      } finally {
        raw.close();
      }
    },
    refused: [[301, RESULT.AUTHORIZATION_REJECTED]],
    close: async () => proxy?.close(),
  };
}

/** `link` with the AuC's challenges (and the rest of the shared state) in a Redis of its own. */
function withRedis(link: Link): Link {
  let redis: TestRedis | undefined;
  return {
    ...link,
    async env(ports) {
      redis = await startRedis();
      return { ...(await link.env(ports)), KEYSWITCH_REDIS_URL: redis.url };
    },
    async close() {
      await link.close();
      await redis?.close();
    },
  };
}

describeRedis('a registration report on a used or never-issued Rand, challenges shared through Redis [sqlite]', () => {
  const ctx = makeContext('sqlite');
  describe('AuC over Diameter', () => reportSuite(ctx, withRedis(diameterLink())));
  afterAll(async () => ctx.cleanup());
});

describeEngines('a registration report on a used or never-issued Rand, on the wire to keyswitch up', (ctx) => {
  for (const [name, makeLink] of [
    ['RADIUS', radiusLink],
    ['Diameter', diameterLink],
  ] as const) {
    describe(`AuC over ${name}`, () => reportSuite(ctx, makeLink()));
  }
  afterAll(async () => ctx.cleanup());
});

function reportSuite(ctx: EngineContext, link: Link): void {
  let up: Up;
  const json = (args: string[]) => {
    const r = up.ks([...args, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  };
  const registrations = (): Array<{ contact: string; source: string }> => json(['registrations', 'show', ALICE]).items;
  const failures = (): number => json(['show', 'terminal', ALICE]).failures;

  /** A full KS1 registration of alice through SBC, softswitch and AuC; the report the softswitch sent for it. */
  async function register(): Promise<Captured> {
    const before = link.reports().length;
    // not spawnSync: the relay runs in this process
    const r = await ksAsync(['terminal', 'register', '--proto', 'sip', '--id', ALICE, '--key', up.keys[ALICE]!, '--sbc', `127.0.0.1:${up.ports.sbcSip}`]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const sent = await vi.waitFor(() => {
      const all = link.reports();
      if (all.length <= before) throw new Error('no registration report on the link yet');
      return all.at(-1)!;
    });
    await vi.waitFor(() => expect(registrations()).toEqual([expect.objectContaining({ contact: sent.report.contact })]));
    return sent;
  }

  /** The operator removes alice's registration, so that a report taken again would show. */
  function deregister(): void {
    expect(json(['registrations', 'deregister', ALICE])).toMatchObject({ registrations: 1 });
    expect(registrations()).toEqual([]);
  }

  beforeAll(async () => {
    const pgOpts = ctx.storeOptions();
    if (ctx.engine === 'postgres') await (await openDb(pgOpts)).knex.destroy();
    up = await startUp({
      terminals: [ALICE],
      prefix: 'ks-report-replay-',
      dbUrl: ctx.engine === 'postgres' ? `${PG_URL}?options=-c%20search_path%3D${pgOpts.schema}` : '',
      env: (ports) => link.env(ports),
    });
  });
  afterAll(async () => {
    await up?.stop();
    await link.close();
  });

  it('refuses the real report replayed, and one on its Rand with the attacker\'s own contact; nothing recorded; alice registers again', async () => {
    const real = await register();
    deregister();
    expect(await link.attack(up, real.bytes)).toEqual(link.refused);
    const elsewhere = link.rebuild(up, real, { ipc: '198.51.100.66', contact: '<sip:alice@198.51.100.66:5060>' });
    expect(await link.attack(up, elsewhere)).toEqual(link.refused);
    expect(registrations()).toEqual([]);
    expect(failures()).toBe(0);

    const again = await register();
    expect(again.report.rand.equals(real.report.rand)).toBe(false);
    expect(registrations()).toEqual([expect.objectContaining({ source: real.report.ipc })]);
  });

  it('refuses a report on a Rand the AuC never issued; nothing recorded; alice registers again', async () => {
    const real = await register();
    deregister();
    expect(await link.attack(up, link.rebuild(up, real, { rand: randomBytes(16) }))).toEqual(link.refused);
    expect(registrations()).toEqual([]);
    expect(failures()).toBe(0);
    await register();
  });
}
