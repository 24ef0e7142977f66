import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalToken, compactToken, EXTENSION_NAME, parseMessage, parseMessages, readObservedEvents, readProperties, readServiceChange, serializeMessage, writeAuthHeader,
} from '../../src/h248/index.js';
import type { ParsedMessage } from '../../src/h248/index.js';
import { decodeS1, encodeS1, KS_EXT, rootCommand } from '../../src/adapters/h248/ks-mapping.js';

const ok = (text: string): ParsedMessage => {
  const r = parseMessage(Buffer.from(text, 'utf8'));
  if (!r.ok) throw new Error(`parse failed: ${r.error.reason} at ${r.error.at}`);
  return r.message;
};

const LONG = `MEGACO/1 <mg1.example>:2945 ; a comment
Transaction = 5 {
  Context = - {
    ServiceChange = ROOT {
      Services { Method = Restart, Reason = "901 Cold Boot", X-KSIDC = "gw1@lab.example", X+KSTS = 1764097200 }
    }
  }
}
`;
const COMPACT = `!/1 <mg1.example>:2945\nT=5{C=-{SC=ROOT{SV{MT=RS,RE="901 Cold Boot",X-KSIDC="gw1@lab.example",X+KSTS=1764097200}}}}`;

describe('H.248 text codec', () => {
  it('reads long and compact forms, any case, with comments, to the same message', () => {
    const a = ok(LONG);
    const b = ok(COMPACT);
    const c = ok('!/1 <mg1.example>:2945\nt=5{c=-{sc=root{sv{mt=rs,re="901 Cold Boot",x-ksidc="gw1@lab.example",x+ksts=1764097200}}}}');
    for (const m of [a, b, c]) {
      const t = m.transactions[0]!;
      expect(t.type).toBe('request');
      const cmd = rootCommand(t as never)!;
      expect(cmd.name).toBe('ServiceChange');
      const sc = readServiceChange(cmd)!;
      expect(sc.method).toBe('Restart');
      expect(sc.reason).toBe('901 Cold Boot');
      expect(sc.extensions.get('X-KSIDC')).toBe('gw1@lab.example');
      expect(sc.extensions.get('X+KSTS')).toBe('1764097200');
    }
    expect(a.mid).toBe('<mg1.example>:2945');
  });

  it('writes compact form that reads back to itself', () => {
    const samples = [
      COMPACT,
      `!/1 [2001:db8::1]:2944\nP=3{C=-{N=ROOT{ER=402{"wrong"}}}}\nPN=4{}\nK{1-3,5}\nP=9{IA,ER=504{"unknown-terminal"}}`,
      `!/1 mg_7\nT=2{C=1{MF=A4444{M{ST=1{L{v=0\nc=IN IP4 192.0.2.1\n},O{MO=SR,tdmc/ec=on}},TS{ks/rand=abc}},E=7{ks/auth,al/on{strict=exact}},DM=dm1{(0s|00s|[1-7]xxx)}}}}`,
      `!/1 [192.0.2.1]:2945\nT=4{C=-{N=ROOT{OE=8{20240101T10000000:al/of{ts=5,n1="a b"}}}}}`,
      `!/1 [192.0.2.1]\nER=400{"Syntax error"}`,
    ];
    for (const s of samples) {
      const once = serializeMessage(ok(s));
      expect(serializeMessage(ok(once))).toBe(once);
    }
  });

  it('reads properties, events and observed events', () => {
    const m = ok(`!/1 x\nT=1{C=-{MF=ROOT{Media{TerminationState{ks/rand=AAAA,ks/offer="app-hmac;q=1"}},E=9{ks/auth}}}}\nT=2{C=-{N=ROOT{OE=9{ks/auth{resp=QQ,mechs="tls;q=0.5"}}}}}`);
    const [t1, t2] = m.transactions as never[];
    const props = readProperties(rootCommand(t1)!);
    expect(props.get('ks/rand')).toBe('AAAA');
    expect(props.get('ks/offer')).toBe('app-hmac;q=1');
    const oe = readObservedEvents(rootCommand(t2)!)!;
    expect(oe.requestId).toBe('9');
    expect(oe.events[0]!.params.get('mechs')).toBe('tls;q=0.5');
  });

  it('reads the Annex B header and where the covered message starts', () => {
    const head = writeAuthHeader({ spi: 0x1234abcd, seq: 7, data: Buffer.alloc(16, 0xab) });
    expect(head).toBe('AU=0x1234abcd:0x00000007:0xabababababababababababababababab');
    const text = `${head}\n!/1 [192.0.2.1]:2945\nT=4{C=-{N=ROOT{OE=8{al/of}}}}`;
    const m = ok(text);
    expect(m.auth).toEqual({ spi: 0x1234abcd, seq: 7, data: Buffer.alloc(16, 0xab) });
    expect(text.slice(m.bodyOffset).startsWith('!/1')).toBe(true);
    const long = ok(`Authentication = 0x00000001:0x00000002:0x${'00'.repeat(12)}\nMEGACO/1 x\nT=1{C=-{N=ROOT{OE=1{a/b}}}}`);
    expect(long.auth?.seq).toBe(2);
  });

  it('keyswitch extension parameter names fit the ABNF (X- and 1..6 letters/digits)', () => {
    for (const n of Object.values(KS_EXT)) expect(n).toMatch(EXTENSION_NAME);
    expect('X-TOOLONGX').not.toMatch(EXTENSION_NAME);
    const s1 = { idc: 'gw1@lab.example', idsp: 'sbc1', n1: Buffer.alloc(16, 1), ts: 1764097200 };
    const text = serializeMessage({ version: 1, mid: '[192.0.2.1]:2945', transactions: [{ type: 'request', id: 1, actions: encodeS1(s1) }] });
    const d = decodeS1(rootCommand(ok(text).transactions[0] as never)!);
    expect(d).toEqual({ ok: true, value: s1 });
  });

  it('a token is its long or compact spelling in any ASCII case; no other character makes one', () => {
    for (const [w, t] of [['Transaction', 'Transaction'], ['T', 'Transaction'], ['tRaNsAcTiOn', 'Transaction'], ['MF', 'Modify'], ['mf', 'Modify'], ['N64', 'Nx64Kservice'], ['!', 'MEGACO'], ['&', 'END']] as const) {
      expect(canonicalToken(w), w).toBe(t);
    }
    for (const w of ['ks/idc', 'ROOT', 'X-KSIDC', 'Transactions', '', 'T\u0000', '\u212A', 'Ma\u017Fk']) expect(canonicalToken(w), w).toBeUndefined();
    for (const [w, c] of [['Media', 'M'], ['MEGACO', '!'], ['Nx64Kservice', 'N64'], ['TransactionResponseAck', 'K'], ['media', 'media'], ['ks/idc', 'ks/idc'], ['X-KSIDC', 'X-KSIDC'], ['', '']] as const) {
      expect(compactToken(w), w).toBe(c);
    }
    // U+212A KELVIN SIGN lower-cases to an ASCII k, the compact TransactionResponseAck: it is no token on the wire
    const kelvin = parseMessage(Buffer.from('!/1 x\n\u212A{1}', 'utf8'));
    expect(kelvin.ok).toBe(false);
    expect(ok('!/1 x\nk{1}').transactions[0]).toEqual({ type: 'ack', ranges: [[1, 1]] });
  });

  it('refuses malformed input with an error result', () => {
    const bad: [string, number][] = [
      ['', 400],
      ['hello', 400],
      ['!/1 x\n', 400],
      ['!/1 x\nT=1{', 400],
      ['!/1 x\nT=1{C=-{}}', 400],
      ['!/1 x\nT=99999999999{C=-{N=ROOT}}', 400],
      ['!/1 x\nT=1{C=-{N=ROOT{OE=1{a/b{c="unterminated}}}}}', 400],
      ['!/9 x\nT=1{C=-{N=ROOT}}', 406],
      ['AU=0x1:0x2:0x3\n!/1 x\nT=1{C=-{N=ROOT}}', 400],
      [`!/1 x\nT=1{C=-{N=ROOT{${'M{'.repeat(100)}`, 400],
    ];
    for (const [text, code] of bad) {
      const r = parseMessage(Buffer.from(text));
      expect(r.ok, text).toBe(false);
      if (!r.ok) expect(r.error.code).toBe(code);
    }
  });

  it('reads several messages from one datagram (the core leg), each under its own mId, up to a bound', () => {
    const two = `!/1 [192.0.2.1]:2945\nT=1{C=-{N=A1{OE=1{al/of}}}}\nP=7{C=-{N=A1}}\n!/1 [192.0.2.2]:2945\nT=2{C=-{N=A2{OE=1{al/on}}}}\n`;
    const r = parseMessages(Buffer.from(two), 16);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.messages.map((m) => [m.mid, m.transactions.map((t) => t.type)])).toEqual([
      ['[192.0.2.1]:2945', ['request', 'reply']],
      ['[192.0.2.2]:2945', ['request']],
    ]);
    expect(r.messages[1]!.bodyOffset).toBe(two.indexOf('!/1 [192.0.2.2]'));
    // one message per datagram where a single message is read (the access leg), and never more than the bound
    expect(parseMessage(Buffer.from(two)).ok).toBe(false);
    expect(parseMessages(Buffer.from(two), 1).ok).toBe(false);
    const many = Array.from({ length: 17 }, (_, i) => `!/1 [192.0.2.${i + 1}]:2945\nT=${i + 1}{C=-{N=A1{OE=1{al/of}}}}\n`).join('');
    expect(parseMessages(Buffer.from(many), 16)).toMatchObject({ ok: false, error: { code: 400, reason: 'too many messages' } });
    // a second message may not carry its own authentication header, nor be empty
    expect(parseMessages(Buffer.from(`${two}AU=0x00000001:0x00000002:0x${'ab'.repeat(16)}\n!/1 [192.0.2.3]:2945\nT=3{C=-{N=A1}}`), 16).ok).toBe(false);
    expect(parseMessages(Buffer.from(`${two}!/1 [192.0.2.3]:2945\n`), 16).ok).toBe(false);
  });

  it('never throws on random bytes or mutated messages (fuzz)', () => {
    const seeds = [COMPACT, LONG, `AU=0x00000001:0x00000002:0x${'ab'.repeat(16)}\n!/1 [192.0.2.1]:2945\nT=4{C=-{N=ROOT{OE=8{ks/auth{resp=QQ,mechs="tls;q=0.5"}}}}}`].map((s) => Buffer.from(s));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const r = parseMessage(bytes);
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), { minLength: 1, maxLength: 8 }),
        (seed, edits) => {
          let b = Buffer.from(seed);
          for (const [pos, byte, op] of edits) {
            const i = pos % (b.length + 1);
            if (op === 'set' && i < b.length) b[i] = byte;
            else if (op === 'insert') b = Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]);
            else b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
          }
          const all = parseMessages(Buffer.concat([b, b]), 16);
          expect(typeof all.ok).toBe('boolean');
          const r = parseMessage(b);
          if (r.ok) {
            // Whatever parses must serialise to text that parses to the same serialisation.
            let text: string | undefined;
            try {
              text = serializeMessage(r.message);
            } catch (e) {
              expect(e).toBeInstanceOf(RangeError);
            }
            if (text !== undefined) {
              const again = parseMessage(Buffer.from(text));
              expect(again.ok).toBe(true);
              if (again.ok) expect(serializeMessage(again.message)).toBe(text);
            }
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
