/**
 * The SBC's intrusion detection reads every answer it sends a terminal (watchAnswers): a
 * credentialed REGISTER is "in flight" for its flow until the IDS sees the answer, and the
 * flow's next credentialed REGISTER waits (dropped) meanwhile. The stack's transactions send
 * by SipTransport.post when the transport has it (UDP), so the IDS must see those answers
 * too: a phone that registers twice in a row from one flow is answered both times.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdsEngine } from '../../src/ids/engine.js';
import { loadRuleFile } from '../../src/ids/load.js';
import { shippedRules } from '../../src/ids/service.js';
import { startSbc, type RunningSbc } from '../../src/sbc/run.js';
import { createSipStack, createUdpTransport, type SipStack } from '../../src/sip/index.js';

let dir: string;
let core: SipStack;
let sbc: RunningSbc;
let phone: Socket;
const answers: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ks-sbc-ids-answers-'));
  // a registrar that challenges every REGISTER, credentials or not (what a wrong password gets)
  core = createSipStack({
    transports: [await createUdpTransport()],
    onRequest: (_req, ctx) => {
      ctx.respond(401, undefined, { toTag: 'core', headers: [['WWW-Authenticate', 'Digest realm="lab.example", nonce="n2", algorithm=MD5, qop="auth"']] });
    },
  });
  sbc = await startSbc({
    idsp: 'sbc1.lab.example', ksp: randomBytes(32),
    untrusted: { host: '127.0.0.1', udpPort: 0, tcpPort: false, tlsPort: false, tlsPskPort: false },
    softswitch: { host: '127.0.0.1', port: core.transports[0]!.port },
    tls: { dataDir: dir },
    ids: new IdsEngine({ rules: loadRuleFile(shippedRules()) }),
  });
  phone = createSocket('udp4');
  await new Promise<void>((r) => phone.bind(0, '127.0.0.1', () => r()));
  phone.on('message', (m) => answers.push(m.toString('latin1')));
});
afterAll(async () => {
  phone.close();
  await sbc.close();
  await core.close();
  rmSync(dir, { recursive: true, force: true });
});

function register(n: number): void {
  const lp = phone.address().port;
  const auth = 'Digest username="alice", realm="lab.example", nonce="n", uri="sip:lab.example", response="00112233445566778899aabbccddeeff", algorithm=MD5';
  phone.send([
    'REGISTER sip:lab.example SIP/2.0', `Via: SIP/2.0/UDP 127.0.0.1:${lp};branch=z9hG4bK-ids-${n}`, 'Max-Forwards: 70',
    `From: <sip:alice@lab.example>;tag=a${n}`, 'To: <sip:alice@lab.example>', `Call-ID: ids-${n}@127.0.0.1`, `CSeq: ${n} REGISTER`,
    `Contact: <sip:alice@127.0.0.1:${lp}>`, `Authorization: ${auth}`, 'Content-Length: 0', '', ''].join('\r\n'), sbc.ports.udp!, '127.0.0.1');
}

async function answerTo(n: number): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const a = answers.find((x) => x.includes(`Call-ID: ids-${n}@127.0.0.1`));
    if (a) return a;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no answer to REGISTER ${n}`);
}

describe('the SBC IDS sees the answers the transactions send', () => {
  it('two credentialed REGISTERs in a row from one flow are both answered (the first answer ended the first one in flight)', async () => {
    register(1);
    expect((await answerTo(1)).slice(0, 12)).toBe('SIP/2.0 401 ');
    register(2);
    expect((await answerTo(2)).slice(0, 12)).toBe('SIP/2.0 401 ');
  });
});
