/**
 * Diameter over TLS-PSK between softswitch and AuC (RFC 6733 §13, TLS from
 * the first byte): who gets through the handshake, and what a peer that
 * gets through may still not claim.
 */
import { randomBytes } from 'node:crypto';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { connect } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startDiameterAucServer, type RefusedPeer } from '../../src/adapters/diameter/auc-server.js';
import { AucUnavailableError } from '../../src/contracts/auc.js';
import { resultOf, RESULT } from '../../src/diameter/index.js';
import { peerPsk, pskClientOptions } from '../../src/diameter/tls-psk.js';
import { DiameterAucClient } from '../../src/adapters/diameter/auc-client.js';
import { cerBytes, fakeAuc, rawPeer } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const secret = randomBytes(32);

async function tlsAuc() {
  const fake = fakeAuc();
  const refused: RefusedPeer[] = [];
  const server = await startDiameterAucServer({
    host: '127.0.0.1',
    port: 0,
    originHost: 'auc1.lab.example',
    originRealm: 'lab.example',
    service: fake.service,
    peers: [
      { originHost: 'ss1.lab.example', addresses: ['127.0.0.1'] },
      { originHost: 'ss2.lab.example', addresses: ['127.0.0.1'] },
    ],
    tlsPskSecret: secret,
    onRefused: (i) => refused.push(i),
  });
  cleanups.push(() => server.close());
  return { ...fake, server, refused };
}

function softswitch(port: number, originHost: string, key: Buffer): DiameterAucClient {
  const c = new DiameterAucClient({ peers: [{ host: '127.0.0.1', port }], originHost, originRealm: 'lab.example', destinationRealm: 'lab.example', timeoutMs: 1000, tlsPsk: key });
  cleanups.push(() => c.close());
  return c;
}

/** A TLS-PSK connection as an attacker would open it, with any identity and key. */
function tlsSocket(port: number, identity: string, key: Buffer): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ...pskClientOptions(identity, key) });
    cleanups.push(() => void s.destroy());
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
    s.once('close', () => reject(new Error('closed before the handshake finished')));
  });
}

describe('Diameter over TLS-PSK', () => {
  it('carries Cx between a softswitch and the AuC that hold its key', async () => {
    const { server, vectors } = await tlsAuc();
    const ss1 = softswitch(server.port, 'ss1.lab.example', peerPsk(secret, 'ss1.lab.example'));
    expect(await ss1.ready(3000)).toBe(true);
    const r = await ss1.vector({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' });
    expect(r.ok && r.vector.rand.equals(vectors[0]!.rand)).toBe(true);
  });

  it('gives a plain-TCP peer on the TLS port no CEA and closes it', async () => {
    const { server, vectors } = await tlsAuc();
    const raw = await rawPeer(server.port, undefined, 'ss1.lab.example');
    raw.socket.write(cerBytes(1, 'ss1.lab.example'));
    expect(await raw.waitFor(() => raw.closed)).toBe(true);
    expect(raw.received).toHaveLength(0);
    expect(vectors).toHaveLength(0);
  });

  it('fails the handshake alike for an unknown identity and for a known one with a wrong key', async () => {
    const { server, refused } = await tlsAuc();
    const unknown = await tlsSocket(server.port, 'evil.attacker.example', randomBytes(32)).then(
      () => 'connected',
      (e: Error) => (e as NodeJS.ErrnoException).code ?? e.message,
    );
    const wrongKey = await tlsSocket(server.port, 'ss1.lab.example', randomBytes(32)).then(
      () => 'connected',
      (e: Error) => (e as NodeJS.ErrnoException).code ?? e.message,
    );
    expect(unknown).not.toBe('connected');
    expect(unknown).toBe(wrongKey);
    expect(refused[0]).toMatchObject({ address: expect.stringContaining('127.0.0.1'), reason: 'TLS-PSK handshake failed' });
  });

  it('does not report a client that hangs up mid-handshake as refused (a softswitch stopping); a wrong key still is', async () => {
    const { server, refused } = await tlsAuc();
    // half a ClientHello, then gone
    const s = connect(server.port, '127.0.0.1');
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.end(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01]));
    await new Promise<void>((r) => s.once('close', () => r()));
    await new Promise((r) => setTimeout(r, 200));
    expect(refused).toEqual([]);
    await tlsSocket(server.port, 'ss1.lab.example', randomBytes(32)).catch(() => undefined);
    await vi.waitFor(() => expect(refused).toEqual([expect.objectContaining({ reason: 'TLS-PSK handshake failed' })]));
  });

  it('answers 3010 to a peer whose CER names another Origin-Host than the key it holds', async () => {
    const { server, vectors } = await tlsAuc();
    const s = await tlsSocket(server.port, 'ss1.lab.example', peerPsk(secret, 'ss1.lab.example'));
    const raw = await rawPeer(server.port, s, 'ss2.lab.example');
    const cea = await raw.handshake();
    expect(resultOf(cea)?.code).toBe(RESULT.UNKNOWN_PEER);
    expect(await raw.waitFor(() => raw.closed)).toBe(true);
    expect(vectors).toHaveLength(0);
  });

  it('does not take an AuC that lacks the softswitch\'s key for one: no answer, AucUnavailableError', async () => {
    const { server, vectors } = await tlsAuc();
    const ss1 = softswitch(server.port, 'ss1.lab.example', randomBytes(32));
    expect(await ss1.ready(500)).toBe(false);
    await expect(ss1.vector({ idc: 'alice@lab.example', idsp: 'sbc1.lab.example' })).rejects.toBeInstanceOf(AucUnavailableError);
    expect(vectors).toHaveLength(0);
  });
});
