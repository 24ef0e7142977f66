import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRET, startPair } from './setup.js';
import { hasBinary, radclientDictionaryDir, run } from './interop-tools.js';

const present = hasBinary('radclient');
const RADCLIENT_ENV = { ...process.env, TZ: 'UTC', LC_ALL: 'C' };
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** FreeRADIUS's rendering of a date attribute, strftime "%b %e %Y %H:%M:%S %Z", in UTC. */
function radclientDate(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  const day = String(d.getUTCDate()).padStart(2, ' ');
  return `${MONTHS[d.getUTCMonth()]} ${day} ${d.getUTCFullYear()} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} UTC`;
}
if (!present) console.warn('[keyswitch tests] radclient not found (Debian freeradius-utils): radclient interop SKIPPED');

describe.skipIf(!present)('FreeRADIUS radclient against the AuC RADIUS server', () => {
  let pair: Awaited<ReturnType<typeof startPair>>;
  let dict: string;
  beforeAll(async () => {
    pair = await startPair();
    dict = radclientDictionaryDir();
  });
  afterAll(async () => pair.close());

  const radclient = (kind: 'auth' | 'acct', lines: string[]) =>
    run('radclient', ['-d', dict, '-x', '-r', '1', '-t', '2', `127.0.0.1:${kind === 'auth' ? pair.server.authPort : pair.server.acctPort}`, kind, SECRET], lines.join('\n') + '\n', RADCLIENT_ENV);

  it('gets an Access-Accept whose vector radclient decodes by name, un-hiding Authenticator_c itself', async () => {
    const { code, out } = await radclient('auth', ['User-Name = "alice@lab.example"', 'NAS-Identifier = "sbc1.lab.example"', 'Message-Authenticator = 0x00']);
    expect(out).toContain('Received Access-Accept');
    expect(code).toBe(0);
    const v = pair.auc.vectors.at(-1)!;
    expect(out).toContain(`Keyswitch-Rand = 0x${v.rand.toString('hex')}`);
    // radclient reverses the RFC 2868 hiding with the shared secret: same scheme on both sides.
    expect(out).toContain(`Keyswitch-Authenticator-C = 0x${v.authenticator.toString('hex')}`);
    expect(out).toContain(`Keyswitch-E-Kc = 0x${v.ekc.toString('hex')}`);
    expect(out).toContain(`Keyswitch-E-Ksp = 0x${v.eksp.toString('hex')}`);
    // radclient prints a date attribute in its own time zone and locale: pinned to UTC/C above.
    expect(out).toContain(`Keyswitch-Rand-Expires = "${radclientDate(Math.floor(v.expiresAt / 1000))}"`);
    expect(out).not.toMatch(/invalid|failed/i);
  });

  it('gets no answer without a Message-Authenticator, and the server counts the drop', async () => {
    const before = pair.server.stats().droppedMissingMessageAuthenticator;
    const { out } = await run('radclient', ['-d', dict, '-x', '-r', '1', '-t', '1', `127.0.0.1:${pair.server.authPort}`, 'auth', SECRET], 'User-Name = "alice@lab.example"\nNAS-Identifier = "sbc1.lab.example"\n');
    expect(out).toContain('No reply');
    expect(pair.server.stats().droppedMissingMessageAuthenticator).toBe(before + 1);
  });

  it('gets an Access-Reject with Reply-Message, reason and retry-after for a locked terminal', async () => {
    const { out } = await radclient('auth', ['User-Name = "locked@lab.example"', 'NAS-Identifier = "sbc1.lab.example"', 'Message-Authenticator = 0x00']);
    expect(out).toContain('Received Access-Reject');
    expect(out).toContain('Reply-Message = "terminal locked"');
    expect(out).toContain('Keyswitch-Reject-Reason = Locked');
    expect(out).toContain('Keyswitch-Retry-After = 120');
  });

  it('asks for a Digest HA1 and reads it un-hidden', async () => {
    const { out } = await radclient('auth', [
      'User-Name = "1000@lab.example"',
      'NAS-Identifier = "softswitch"',
      'Message-Authenticator = 0x00',
      'Keyswitch-Digest-Username = "1000"',
      'Keyswitch-Digest-Realm = "lab.example"',
      'Keyswitch-Digest-Algorithm = SHA-256',
    ]);
    expect(out).toContain('Received Access-Accept');
    expect(out).toContain('Keyswitch-Digest-HA1 = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"');
    expect(pair.auc.calls.at(-1)).toEqual({ method: 'digest', arg: { idc: '1000@lab.example', username: '1000', realm: 'lab.example', algorithm: 'SHA-256' } });
  });

  it('reports registration (Accounting Start) and a failure (Failed) and verifies our Accounting-Responses', async () => {
    const start = await radclient('acct', [
      'Acct-Status-Type = Start',
      'User-Name = "alice@lab.example"',
      'NAS-Identifier = "sbc1.lab.example"',
      'Acct-Session-Id = "0123456789abcdef"',
      'Keyswitch-Terminal-Address = "192.0.2.5"',
      'Keyswitch-Protocol = "sip"',
      'Keyswitch-Contact = "sip:alice@192.0.2.5:5060"',
      'Keyswitch-Mechanism = "app-hmac"',
      'Keyswitch-Registration-Expires = 1900000000',
      'Message-Authenticator = 0x00',
    ]);
    expect(start.out).toContain('Received Accounting-Response');
    expect(start.out).not.toMatch(/invalid|failed/i);
    expect(pair.auc.registrations.at(-1)).toEqual({
      idc: 'alice@lab.example',
      idsp: 'sbc1.lab.example',
      ipc: '192.0.2.5',
      protocol: 'sip',
      contact: 'sip:alice@192.0.2.5:5060',
      mechanism: 'app-hmac',
      expiresAt: 1_900_000_000_000,
    });
    pair.auc.failuresUntilLock = 1;
    const failed = await radclient('acct', ['Acct-Status-Type = Failed', 'User-Name = "dave@lab.example"', 'NAS-Identifier = "sbc1.lab.example"', 'Acct-Session-Id = "f1"']);
    expect(failed.out).toContain('Received Accounting-Response');
    expect(failed.out).toContain('Keyswitch-Locked = Yes');
    expect(failed.out).toContain('Keyswitch-Retry-After = 60');
  });
});
