/**
 * Completed non-INVITE transactions over UDP live in one table per kind (src/sip/transaction/completed.ts),
 * swept by one timer: a retransmission is answered with the stored bytes until Timer J (server) and a
 * retransmitted final absorbed until Timer K (client), whenever the sweep runs; after that they are new.
 */
import dgram from 'node:dgram';
import { afterEach, expect, it, vi } from 'vitest';
import { CompletedClients, CompletedServers, type CompletedAnswer, type CompletedClient } from '../../src/sip/transaction/completed.js';
import { createRequest, createSipStack, createUdpTransport, serialize, type SipStack, type SipTransport } from '../../src/sip/index.js';

afterEach(() => {
  vi.useRealTimers();
});

const transport = { send: () => Promise.resolve() } as unknown as SipTransport;

/** A table on a map of its own, read as the stack reads it (a live answer or nothing). */
function serverTable(lifeMs: number, now: () => number) {
  const map = new Map<string, string | CompletedAnswer>();
  const table = new CompletedServers<string>(map, lifeMs, now);
  const get = (k: string): CompletedAnswer | undefined => {
    const v = map.get(k);
    return v !== undefined && table.live(v) ? v : undefined;
  };
  return { map, table, get };
}

it('a stored answer lives exactly its time, whether or not the sweep has run, and the sweep empties the table', () => {
  vi.useFakeTimers();
  let t = 0;
  const { map, table, get } = serverTable(32_000, () => t);
  // a live transaction under another key is not the table's to sweep
  map.set('live', 'a transaction');
  table.add('a', Buffer.from('A'), transport, { address: '127.0.0.1', port: 1 });
  t = 20_000;
  table.add('b', Buffer.from('B'), transport, { address: '127.0.0.1', port: 2 });
  t = 31_999;
  expect(get('a')?.bytes().toString()).toBe('A');
  // the sweep for 'a' runs; 'b' (stored 20 s later) still answers until its own 32 s
  t = 32_000;
  vi.advanceTimersByTime(32_000);
  expect(table.size).toBe(1);
  expect(map.has('a')).toBe(false);
  expect(get('a')).toBeUndefined();
  t = 51_999;
  expect(get('b')?.bytes().toString()).toBe('B');
  // past its time before any sweep: gone for a lookup already
  t = 52_000;
  expect(get('b')).toBeUndefined();
  expect([...map.keys()]).toEqual(['live']);
  // a key taken again by a live transaction is not swept with the old answer
  table.add('c', Buffer.from('C'), transport, { address: '127.0.0.1', port: 3 });
  map.set('c', 'a new transaction');
  t = 90_000;
  vi.advanceTimersByTime(60_000);
  expect(table.size).toBe(0);
  expect([...map.keys()].sort()).toEqual(['c', 'live']);
  table.clear();
  expect([...map.keys()].sort()).toEqual(['c', 'live']);
});

it('the sweep takes expired entries only, and the table is bounded by what one lifetime adds', () => {
  vi.useFakeTimers();
  let t = 0;
  const map = new Map<string, string | CompletedClient>([['live', 'a transaction']]);
  const table = new CompletedClients<string>(map, 5_000, () => t);
  for (let i = 0; i < 10_000; i++) {
    t = i; // one per ms: 10 s of traffic
    table.add('k' + i);
    vi.advanceTimersByTime(1);
  }
  // entries older than 5 s are gone (to within one sweep period), the rest answer
  expect(table.size).toBeLessThanOrEqual(5_000 + 1_000);
  expect(table.size).toBeGreaterThanOrEqual(5_000);
  expect(table.has('k9999')).toBe(true);
  expect(table.has('k4000')).toBe(false);
  // the entries are the shared map's, beside a live transaction the table leaves alone
  expect(map.size).toBe(table.size + 1);
  expect(map.get('live')).toBe('a transaction');
  table.clear();
  expect(table.size).toBe(0);
  expect([...map.keys()]).toEqual(['live']);
});

it('the stored answer gives back every byte as sent (a UTF-8 display name, any octet)', () => {
  const { table, get } = serverTable(32_000, () => 0);
  const bytes = Buffer.concat([Buffer.from('SIP/2.0 200 OK\r\nTo: "Jürgen" <sip:j@lab.example>\r\n'), Buffer.from([0, 0x7f, 0x80, 0xc3, 0xff])]);
  table.add('k', bytes, transport, { address: '127.0.0.1', port: 1 });
  expect(get('k')!.bytes().equals(bytes)).toBe(true);
  table.clear();
});

it('answers stored side by side keep their own bytes: across blocks, a large one, and the sender reusing its buffer', () => {
  const { table, get } = serverTable(32_000, () => 0);
  const sent = new Map<string, Buffer>();
  const scratch = Buffer.alloc(70_000);
  // ~1.6 MB of answers of varying sizes, one of them larger than a block's share, all written from one reused buffer
  for (let i = 0; i < 4_000; i++) {
    const n = i === 1234 ? 60_000 : 200 + ((i * 37) % 500);
    for (let j = 0; j < n; j++) scratch[j] = (i * 31 + j * 7) & 0xff;
    const key = 'k' + i;
    table.add(key, scratch.subarray(0, n), transport, { address: '127.0.0.1', port: 1 });
    sent.set(key, Buffer.from(scratch.subarray(0, n)));
  }
  scratch.fill(0);
  for (const [key, bytes] of sent) expect(get(key)!.bytes().equals(bytes), key).toBe(true);
  table.clear();
});

const stacks: SipStack[] = [];
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});

it('over UDP: a retransmission gets the stored answer until Timer J, then is a new request', async () => {
  // T1 = 60 ms: Timer J = 3.84 s
  let handled = 0;
  const server = createSipStack({
    transports: [await createUdpTransport()],
    timers: { T1: 60, T2: 4000, T4: 5000 },
    onRequest: (_req, ctx) => {
      handled++;
      ctx.respond(200, undefined, { toTag: 'x' + handled });
    },
  });
  stacks.push(server);
  const port = server.transports[0]!.port;
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const answers: string[] = [];
  sock.on('message', (m) => answers.push(m.toString()));
  const wait = async (n: number) => {
    while (answers.length < n) await new Promise((r) => setTimeout(r, 5));
  };
  const wire = serialize(createRequest('REGISTER', `sip:127.0.0.1:${port}`, [
    ['Via', 'SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK-table-1'],
    ['To', '<sip:alice@lab.example>'],
    ['From', '<sip:alice@lab.example>;tag=a'],
    ['Call-ID', 'table-1'],
    ['CSeq', '1 REGISTER'],
  ]));
  try {
    sock.send(wire, port, '127.0.0.1');
    await wait(1);
    const answered = performance.now();
    expect(server.stats().serverTransactions).toBe(1);
    await new Promise((r) => setTimeout(r, 1100)); // past one sweep period, inside Timer J
    sock.send(wire, port, '127.0.0.1');
    await wait(2);
    expect(answers[1]).toBe(answers[0]);
    expect(handled).toBe(1);
    expect(server.stats().retransmissionsAbsorbed).toBe(1);
    await new Promise((r) => setTimeout(r, Math.max(0, answered + 3840 + 100 - performance.now()))); // past Timer J
    sock.send(wire, port, '127.0.0.1');
    await wait(3);
    expect(handled).toBe(2);
    expect(answers[2]).toContain('tag=x2');
  } finally {
    sock.close();
  }
});

it('over UDP: a final retransmitted after the client transaction completed is absorbed, not a stray', async () => {
  let strays = 0;
  let answer: Buffer | undefined;
  const peer = dgram.createSocket('udp4');
  await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
  const client = createSipStack({
    transports: [await createUdpTransport()],
    timers: { T1: 500, T2: 4000, T4: 60_000 },
    onRequest: () => undefined,
    onStrayResponse: () => strays++,
  });
  stacks.push(client);
  peer.on('message', (m, rinfo) => {
    const text = m.toString();
    const via = /^Via: (.*)$/m.exec(text)![1]!.trim();
    answer = Buffer.from(['SIP/2.0 200 OK', `Via: ${via}`, 'To: <sip:bob@lab.example>;tag=b', 'From: <sip:bob@lab.example>;tag=f', 'Call-ID: table-2', 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', ''].join('\r\n'));
    peer.send(answer, rinfo.port, rinfo.address);
  });
  try {
    const req = createRequest('OPTIONS', `sip:127.0.0.1:${peer.address().port}`, [
      ['To', '<sip:bob@lab.example>'], ['From', '<sip:bob@lab.example>;tag=f'], ['Call-ID', 'table-2'], ['CSeq', '1 OPTIONS'],
    ]);
    expect((await client.send(req)).status).toBe(200);
    expect(client.stats().clientTransactions).toBe(1);
    peer.send(answer!, client.transports[0]!.port, '127.0.0.1');
    // and an answer nobody asked for is still a stray: the check runs after both have arrived
    peer.send(Buffer.from(answer!.toString().replace(/branch=[^;\r\n]*/, 'branch=z9hG4bK-other')), client.transports[0]!.port, '127.0.0.1');
    while (client.stats().strayResponses + client.stats().responsesIn < 3) await new Promise((r) => setTimeout(r, 5));
    while (client.stats().responsesIn < 3) await new Promise((r) => setTimeout(r, 5));
    expect(strays).toBe(1);
  } finally {
    peer.close();
  }
});
