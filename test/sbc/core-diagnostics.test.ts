/**
 * What a core writes for its own operators stays on the trusted side: the
 * SBC strips Warning, Error-Info and Server from every answer it relays to a
 * terminal (docs/security.md, "What each listener does"). A core that puts
 * all three on its answer to a Digest phone's REGISTER: the phone gets the
 * status and its challenge, none of the three.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSbc, type RunningSbc } from '../../src/sbc/run.js';
import { createSipStack, createUdpTransport, type SipStack } from '../../src/sip/index.js';
import { newCallId, newTag, SipUac } from '../../src/terminal/sip-uac.js';
import { FAST, IDSP } from './setup.js';

let core: SipStack;
let sbc: RunningSbc;
let dir: string;
const DIAGNOSTICS: Array<[string, string]> = [
  ['Warning', '399 core.lab.example "unknown-terminal carol@lab.example, store row 17"'],
  ['Error-Info', '<https://core.lab.example/diag/17>'],
  ['Server', 'keyswitch-core/0.1 (node 20)'],
];

beforeAll(async () => {
  const t = await createUdpTransport({ port: 0 });
  core = createSipStack({
    transports: [t],
    timers: FAST,
    onRequest: (_req, ctx) => {
      ctx.respond(401, undefined, { toTag: 'core', headers: [['WWW-Authenticate', 'Digest realm="lab.example", nonce="abc", algorithm=MD5'], ...DIAGNOSTICS] });
    },
  });
  dir = mkdtempSync(join(tmpdir(), 'ks-sbc-diag-'));
  sbc = await startSbc({
    idsp: IDSP, ksp: randomBytes(32),
    untrusted: { host: '127.0.0.1', udpPort: 0, tcpPort: false, tlsPort: false, tlsPskPort: false },
    softswitch: { host: '127.0.0.1', port: t.port, transport: 'udp' },
    tls: { dataDir: dir }, timers: FAST,
  });
});
afterAll(async () => {
  await sbc?.close();
  await core?.close();
  rmSync(dir, { recursive: true, force: true });
});

it("a core answer's Warning, Error-Info and Server do not reach the terminal; its status and challenge do", async () => {
  const uac = await SipUac.open({ transport: 'udp', server: { host: '127.0.0.1', port: sbc.ports.udp! }, timers: FAST });
  try {
    const aor = 'carol@lab.example';
    const res = await uac.send({ method: 'REGISTER', requestUri: 'sip:lab.example', aor, callId: newCallId(), cseq: 1, fromTag: newTag(), headers: [['Contact', uac.contact(aor)]] });
    expect(res.status).toBe(401);
    expect(res.get('WWW-Authenticate')).toContain('nonce="abc"');
    for (const [name] of DIAGNOSTICS) expect(res.get(name), name).toBeUndefined();
  } finally {
    await uac.close();
  }
});
