import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { appHmacCanonical, protectCommand, verifyCommand } from '../../src/adapters/mgcp/app-hmac.js';
import { ksStep, readS7, s7Params } from '../../src/adapters/mgcp/params.js';
import { AppHmacSigner, AppHmacVerifier } from '../../src/crypto/app-hmac.js';
import { encodeMgcp, formatAckRanges, getParam, param, parseAckRanges, parseEndpointName, parseMgcp, type MgcpCommand, type MgcpMessage } from '../../src/mgcp/index.js';

const one = (text: string | Buffer): MgcpMessage => {
  const r = parseMgcp(Buffer.isBuffer(text) ? text : Buffer.from(text));
  if (!r.ok) throw new Error(r.error);
  expect(r.messages).toHaveLength(1);
  return r.messages[0]!;
};

describe('MGCP codec', () => {
  it('parses a command with parameters, CRLF line ends and case-insensitive names', () => {
    const m = one('rsip 1200 aaln/*@gw1.lab.example MGCP 1.0\r\nrm: restart\r\nRD:   0\r\nx-ks-idc: gw1@lab.example\r\n');
    expect(m).toMatchObject({ kind: 'command', verb: 'RSIP', tid: 1200, endpoint: 'aaln/*@gw1.lab.example', version: '1.0' });
    expect(getParam(m, 'RM')).toBe('restart');
    expect(getParam(m, 'rd')).toBe('0');
    expect(getParam(m, 'X-KS-IDC')).toBe('gw1@lab.example');
  });

  it('parses responses with commentary, a package name and parameters', () => {
    expect(one('200 1203 OK\n')).toMatchObject({ kind: 'response', code: 200, tid: 1203, text: 'OK', params: [] });
    expect(one('000 1203\n')).toMatchObject({ kind: 'response', code: 0, tid: 1203 });
    expect(one('801 77 /KS auth needed\nK:\n')).toMatchObject({ code: 801, tid: 77, pkg: 'KS', text: 'auth needed', params: [{ key: 'k', value: '' }] });
    expect(one('510 5 Protocol error: app-hmac bad-tag\n')).toMatchObject({ code: 510, text: 'Protocol error: app-hmac bad-tag' });
  });

  it('carries an SDP body as bytes and splits piggy-backed messages on "." lines', () => {
    const sdp = Buffer.concat([Buffer.from('v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\n'), Buffer.from([0xff, 0xfe, 0x0d, 0x0a])]);
    const dgram = Buffer.concat([Buffer.from('200 1 OK\nI: 1F\n\n'), sdp, Buffer.from('.\n000 9\n.\nNTFY 10 a/1@[192.0.2.1]:2427 MGCP 1.0 NCS\nO: L/hd\n')]);
    const r = parseMgcp(dgram);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.messages.map((m) => m.kind)).toEqual(['response', 'response', 'command']);
    expect(r.messages[0]!.sdp).toEqual(sdp);
    expect(r.messages[2]).toMatchObject({ verb: 'NTFY', profile: 'NCS', endpoint: 'a/1@[192.0.2.1]:2427' });
    const again = parseMgcp(encodeMgcp(r.messages));
    expect(again.ok && again.messages).toEqual(r.messages);
  });

  it('checks endpoint names: wildcards only as whole terms, a domain required', () => {
    for (const ok of ['*@gw1', 'aaln/$@gw1.example', 'ds/ds1-1/*@[192.0.2.1]', 'a@gw:2427']) expect(parseEndpointName(ok), ok).toBeDefined();
    for (const bad of ['@gw', 'a@', 'a*b@gw', 'a//b@gw', 'a@gw host', 'a@-gw', 'a@gw:99999']) expect(parseEndpointName(bad), bad).toBeUndefined();
  });

  it('parses and formats K: response acknowledgement ranges', () => {
    expect(parseAckRanges('1-3, 7 ,9-9')).toEqual([[1, 3], [7, 7], [9, 9]]);
    expect(parseAckRanges('')).toEqual([]);
    for (const bad of ['3-1', '0', 'x', '1-', '1000000000']) expect(parseAckRanges(bad), bad).toBeUndefined();
    expect(formatAckRanges([9, 1, 2, 3, 7, 3])).toBe('1-3, 7, 9');
  });

  it('refuses malformed and oversized input with an error result that names the command when it can', () => {
    expect(parseMgcp(Buffer.from('RQNT 0 a@gw MGCP 1.0\n'))).toMatchObject({ ok: false, error: 'bad transaction id' });
    expect(parseMgcp(Buffer.from('RQNT 1000000000 a@gw MGCP 1.0\n'))).toMatchObject({ ok: false });
    expect(parseMgcp(Buffer.from('RQNT 12 a@gw SIP 2.0\n'))).toMatchObject({ ok: false, command: { verb: 'RQNT', tid: 12 } });
    expect(parseMgcp(Buffer.from('RQNT 12 a*@gw MGCP 1.0\n'))).toMatchObject({ ok: false, error: 'bad endpoint name', command: { tid: 12 } });
    expect(parseMgcp(Buffer.from('RQNT 12 a@gw MGCP 1.0\nno colon here\n'))).toMatchObject({ ok: false, error: 'bad parameter line', command: { tid: 12 } });
    expect(parseMgcp(Buffer.from('RQNT 12 a@gw MGCP 1.0\nX: a\0b\n'))).toMatchObject({ ok: false, error: 'control character in line' });
    expect(parseMgcp(Buffer.alloc(9000, 0x41))).toMatchObject({ ok: false, error: 'message too large' });
    expect(parseMgcp(Buffer.from('AUEP 1 a@gw MGCP 1.0\n' + 'X: 1\n'.repeat(300)))).toMatchObject({ ok: false, error: 'too many lines' });
    expect(parseMgcp(Buffer.from(`AUEP 1 a@gw MGCP 1.0\nX: ${'a'.repeat(3000)}\n`))).toMatchObject({ ok: false, error: 'line too long' });
    expect(parseMgcp(Buffer.from('200 1 OK\n.\n'.repeat(20)))).toMatchObject({ ok: false, error: 'too many piggy-backed messages' });
    expect(parseMgcp(Buffer.alloc(0))).toMatchObject({ ok: false });
  });

  it('never throws on random bytes or mutated valid messages', () => {
    const valid = encodeMgcp([
      { kind: 'command', verb: 'NTFY', tid: 44, endpoint: '*@gw1.lab.example', version: '1.0', params: [param('X', '1'), param('O', 'ks/auth'), param('X-KS-N1', 'AAAAAAAAAAAAAAAAAAAAAA')] },
      { kind: 'response', code: 200, tid: 43, params: [param('K', '')], sdp: Buffer.from('v=0\n') },
    ]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const r = parseMgcp(Buffer.from(bytes));
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), (edits) => {
        const b = Buffer.from(valid);
        for (const [i, v] of edits) b[i] = v;
        const r = parseMgcp(b);
        // Whatever parsed must encode again (the relay re-encodes what it forwards).
        if (r.ok) expect(() => encodeMgcp(r.messages)).not.toThrow();
      }),
      { numRuns: 3000 },
    );
  });

  it('round-trips generated commands', () => {
    const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,10}$/);
    const value = fc.stringMatching(/^[!-~]([ -~]{0,30}[!-~])?$/);
    fc.assert(
      fc.property(
        fc.constantFrom('RSIP', 'RQNT', 'NTFY', 'AUEP', 'DLCX', 'CRCX'),
        fc.integer({ min: 1, max: 999_999_999 }),
        fc.array(fc.tuple(name, value), { maxLength: 12 }),
        (verb, tid, ps) => {
          const cmd: MgcpCommand = { kind: 'command', verb, tid, endpoint: 'aaln/1@gw.example', version: '1.0', params: ps.map(([n, v]) => param(n, v)) };
          const r = parseMgcp(encodeMgcp(cmd));
          expect(r.ok && r.messages[0]).toEqual(cmd);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('MGCP keyswitch parameters', () => {
  const s7 = {
    idc: 'gw1@lab.example',
    n1: Buffer.alloc(16, 1),
    n2: Buffer.alloc(16, 2),
    ts: 1764097200,
    authenticator: Buffer.alloc(16, 3),
    mechs: { items: [{ name: 'app-hmac', q: 0.5 }], text: 'app-hmac;q=0.5' },
  };

  it('maps s7 to an NTFY and back, naming a missing or malformed parameter', () => {
    const params = [param('X', '1'), param('O', 'ks/auth'), ...s7Params(s7)];
    expect(ksStep('NTFY', params)).toBe('response');
    expect(readS7(params)).toEqual({ ok: true, value: s7 });
    expect(readS7(params.filter((p) => p.key !== 'x-ks-n2'))).toEqual({ ok: false, field: 'X-KS-N2' });
    expect(readS7(params.map((p) => (p.key === 'x-ks-n1' ? param(p.name, 'AAAA') : p)))).toEqual({ ok: false, field: 'X-KS-N1' });
    expect(readS7([...params, param('x-ks-n1', 'AAAAAAAAAAAAAAAAAAAAAA')])).toEqual({ ok: false, field: 'x-ks-n1' });
    expect(readS7(params.map((p) => (p.key === 'x-ks-ts' ? param(p.name, '-5') : p)))).toEqual({ ok: false, field: 'X-KS-TS' });
  });

  it('app-hmac canonical form ignores name case, spacing and K:, but not values or order', () => {
    const cmd: MgcpCommand = { kind: 'command', verb: 'NTFY', tid: 9, endpoint: '*@gw1', version: '1.0', params: [param('X', '1'), param('O', 'L/hd')] };
    const base = appHmacCanonical(cmd);
    expect(appHmacCanonical({ ...cmd, params: [param('x', ' 1 '), param('o', 'L/hd'), param('K', '3-4')] })).toEqual(base);
    expect(appHmacCanonical({ ...cmd, params: [param('X', '2'), param('O', 'L/hd')] })).not.toEqual(base);
    expect(appHmacCanonical({ ...cmd, params: [param('O', 'L/hd'), param('X', '1')] })).not.toEqual(base);
    expect(appHmacCanonical({ ...cmd, tid: 10 })).not.toEqual(base);
  });

  it('verifies protected commands: ok once, then replayed; missing, altered and malformed tags refused', () => {
    const key = Buffer.alloc(32, 9);
    const signer = new AppHmacSigner(key, 'uplink');
    const verifier = new AppHmacVerifier(key, 'uplink');
    const cmd: MgcpCommand = { kind: 'command', verb: 'NTFY', tid: 9, endpoint: '*@gw1', version: '1.0', params: [param('O', 'L/hd')] };
    const signed = protectCommand(cmd, signer);
    const wire = parseMgcp(encodeMgcp(signed));
    expect(wire.ok).toBe(true);
    const received = (wire as { messages: MgcpCommand[] }).messages[0]!;
    expect(verifyCommand(cmd, verifier)).toBe('missing');
    expect(verifyCommand({ ...received, params: received.params.map((p) => (p.key === 'o' ? param('O', 'L/hu') : p)) }, verifier)).toBe('bad-tag');
    expect(verifyCommand({ ...received, params: received.params.map((p) => (p.key === 'x-ks-hmac' ? param(p.name, '!!') : p)) }, verifier)).toBe('bad-tag');
    expect(verifyCommand(received, verifier)).toBe('ok');
    expect(verifyCommand(received, verifier)).toBe('replayed');
    // The other direction's key stream does not verify here.
    expect(verifyCommand(protectCommand(cmd, new AppHmacSigner(key, 'downlink')), new AppHmacVerifier(key, 'uplink'))).toBe('bad-tag');
  });
});
