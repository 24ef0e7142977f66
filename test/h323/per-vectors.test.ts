/**
 * Hand-checked encodings of the PER primitives. The PersonnelRecord vectors
 * are X.691 Annex A's three examples in the ALIGNED variant (A.2.2, A.3.2,
 * A.4.2). The SETs are written as SEQUENCEs in canonical tag order, and
 * VisibleString as IA5String: in ALIGNED PER both take 8 bits per character
 * with the character's own code, so the encodings are the same.
 */
import { describe, expect, it } from 'vitest';
import {
  BOOLEAN,
  BitReader,
  BitWriter,
  OBJECT_IDENTIFIER,
  bitString,
  bmpString,
  choice,
  alt,
  decodePer,
  encodePer,
  field,
  ia5String,
  integer,
  INTEGER,
  lazy,
  NULL,
  octetString,
  optional,
  readConstrained,
  readNormallySmall,
  readSemiConstrained,
  semiInteger,
  sequence,
  sequenceOf,
  writeConstrained,
  writeNormallySmall,
  writeSemiConstrained,
  type Codec,
  type UnknownAlternative,
  type UnknownExtension,
} from '../../src/h323/per/index.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const enc = <T>(c: Codec<T>, v: T) => encodePer(c, v).toString('hex').toUpperCase();
function dec<T>(c: Codec<T>, b: Buffer): T {
  const r = decodePer(c, b);
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message} at ${r.error.path}`);
  return r.value;
}

// ---- X.691 Annex A ------------------------------------------------------------

interface Name {
  givenName: string;
  initial: string;
  familyName: string;
  unknownExtensions?: UnknownExtension[];
}
interface Child {
  name: Name;
  dateOfBirth: string;
  sex?: number;
  unknownExtensions?: UnknownExtension[];
}
interface Record1 {
  name: Name;
  number: number | bigint;
  title: string;
  dateOfHire: string;
  nameOfSpouse: Name;
  children?: Child[];
  unknownExtensions?: UnknownExtension[];
}

const john = (children: Child[]) => ({
  name: { givenName: 'John', initial: 'P', familyName: 'Smith' },
  title: 'Director',
  number: 51,
  dateOfHire: '19710917',
  nameOfSpouse: { givenName: 'Mary', initial: 'T', familyName: 'Smith' },
  children,
});
const ralph = { name: { givenName: 'Ralph', initial: 'T', familyName: 'Smith' }, dateOfBirth: '19571111' };
const susan = { name: { givenName: 'Susan', initial: 'B', familyName: 'Jones' }, dateOfBirth: '19590717' };

describe('X.691 Annex A, ALIGNED variant', () => {
  it('A.2: the record without subtype constraints', () => {
    const V = ia5String();
    const Name = sequence<Name>('Name', [field('givenName', V), field('initial', V), field('familyName', V)]);
    const Child = sequence<Child>('ChildInformation', [field('name', Name), field('dateOfBirth', V)]);
    // EmployeeNumber ::= INTEGER, unconstrained; children DEFAULT {} is present when not empty.
    const Record = sequence<Record1>('PersonnelRecord', [
      field('name', Name),
      field('number', INTEGER as unknown as Codec<number | bigint>),
      field('title', V),
      field('dateOfHire', V),
      field('nameOfSpouse', Name),
      optional('children', sequenceOf(Child)),
    ]);
    const value = { ...john([ralph, susan]), number: 51n };
    const expected = `80044A6F 686E0150 05536D69 74680133 08446972 6563746F 72083139 37313039 3137044D 61727901 5405536D
      69746802 0552616C 70680154 05536D69 74680831 39353731 31313105 53757361 6E014205 4A6F6E65 73083139 35393037 3137`;
    expect(enc(Record, value)).toBe(hex(expected).toString('hex').toUpperCase());
    expect(dec(Record, hex(expected))).toEqual(value);
  });

  it('A.3: with size and permitted-alphabet constraints', () => {
    const NameString = ia5String(1, 64, { alphabet: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-.' });
    const Initial = ia5String(1, 1, { alphabet: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-.' });
    const DateString = ia5String(8, 8, { alphabet: '0123456789' });
    const Name = sequence<Name>('Name', [field('givenName', NameString), field('initial', Initial), field('familyName', NameString)]);
    const Child = sequence<Child>('ChildInformation', [field('name', Name), field('dateOfBirth', DateString)]);
    const Record = sequence<Record1>('PersonnelRecord', [
      field('name', Name),
      field('number', INTEGER as unknown as Codec<number | bigint>),
      field('title', ia5String()),
      field('dateOfHire', DateString),
      field('nameOfSpouse', Name),
      optional('children', sequenceOf(Child)),
    ]);
    const value = { ...john([ralph, susan]), number: 51n };
    const expected = `864A6F68 6E501053 6D697468 01330844 69726563 746F7219 7109170C 4D617279 5410536D 69746802 1052616C
      70685410 536D6974 68195711 11105375 73616E42 104A6F6E 65731959 0717`;
    expect(enc(Record, value)).toBe(hex(expected).toString('hex').toUpperCase());
    expect(dec(Record, hex(expected))).toEqual(value);
  });

  it('A.4: with extension markers and an extension addition (sex, an ENUMERATED as its index)', () => {
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-.';
    const NameString = ia5String(1, 64, { alphabet, extensible: true });
    const Initial = ia5String(1, 1, { alphabet });
    const DateString = ia5String(8, 8, { alphabet: '0123456789', extensible: true });
    const Name = sequence<Name>('Name', [field('givenName', NameString), field('initial', Initial), field('familyName', NameString)], []);
    // sex ENUMERATED { male(1), female(2), unknown(3) } is encoded as its index 0..2.
    const Child = sequence<Child>('ChildInformation', [field('name', Name), field('dateOfBirth', DateString)], [optional('sex', integer(0, 2))]);
    const Record = sequence<Record1>(
      'PersonnelRecord',
      [
        field('name', Name),
        field('number', integer(0, 9999, { extensible: true }) as Codec<number | bigint>),
        field('title', ia5String()),
        field('dateOfHire', DateString),
        field('nameOfSpouse', Name),
        optional('children', sequenceOf(Child, 2, 2, { extensible: true })),
      ],
      [],
    );
    const value = john([ralph, { ...susan, sex: 1 }]);
    const expected = `40C04A6F 686E5008 536D6974 68000033 08446972 6563746F 72001971 0917034D 61727954 08536D69 74680100
      52616C70 68540853 6D697468 00195711 11820053 7573616E 42084A6F 6E657300 19590717 010140`;
    expect(enc(Record, value)).toBe(hex(expected).toString('hex').toUpperCase());
    expect(dec(Record, hex(expected))).toEqual(value);

    // A decoder that predates `sex` keeps it as an unknown extension and writes it back unchanged.
    const OldChild = sequence<Child>('ChildInformation', [field('name', Name), field('dateOfBirth', DateString)], []);
    const OldRecord = sequence<Record1>(
      'PersonnelRecord',
      [
        field('name', Name),
        field('number', integer(0, 9999, { extensible: true }) as Codec<number | bigint>),
        field('title', ia5String()),
        field('dateOfHire', DateString),
        field('nameOfSpouse', Name),
        optional('children', sequenceOf(OldChild, 2, 2, { extensible: true })),
      ],
      [],
    );
    const old = dec(OldRecord, hex(expected));
    expect(old.children![1]!.unknownExtensions).toEqual([{ index: 0, data: Buffer.from([0x40]) }]);
    expect(encodePer(OldRecord, old)).toEqual(hex(expected));
  });
});

// ---- whole numbers -------------------------------------------------------------

function bits(fn: (w: BitWriter) => void): string {
  const w = new BitWriter();
  fn(w);
  return w.finish().toString('hex');
}

describe('constrained whole numbers (10.5.7)', () => {
  const cases: Array<[string, number, number, number, string]> = [
    ['range 1: no bits', 5, 5, 5, ''],
    ['range 8: a 3-bit field', 5, 0, 7, 'a0'], // 101 then padding
    ['range 255: 8 bits, not aligned', 254, 0, 254, 'fe'],
    ['range 256: one aligned octet', 255, 0, 255, 'ff'],
    ['RequestSeqNum 1..65535: two aligned octets of n-lb', 1, 1, 65535, '0000'],
    ['RequestSeqNum 65535', 65535, 1, 65535, 'fffe'],
    ['range 65536: two octets', 4660, 0, 65535, '1234'],
    ['TimeStamp 1..2^32-1 value 1: length 1 in 2 bits, then 1 octet', 1, 1, 4294967295, '0000'],
    ['TimeStamp 2^32-1: length 4 (bits 11), 4 octets', 4294967295, 1, 4294967295, 'c0fffffffe'],
    ['BandWidth 0..2^32-1 value 256: length 2 (bits 01)', 256, 0, 4294967295, '400100'],
  ];
  for (const [what, v, lb, ub, out] of cases) {
    it(what, () => {
      expect(bits((w) => writeConstrained(w, v, lb, ub))).toBe(out);
      if (out) expect(readConstrained(new BitReader(Buffer.from(out, 'hex')), lb, ub)).toBe(v);
    });
  }

  it('a value past the upper bound in the bits is refused, not wrapped', () => {
    // 0..4 takes 3 bits; 111 would be 7.
    expect(decodePer(integer(0, 4), Buffer.from([0xe0]))).toMatchObject({ ok: false, error: { code: 'out-of-range' } });
    // TimeStamp with a length of 4 and 0xffffffff: 1 + 0xffffffff > 2^32-1.
    expect(decodePer(integer(1, 4294967295), Buffer.from('c0ffffffff', 'hex'))).toMatchObject({ ok: false, error: { code: 'out-of-range' } });
  });

  it('a misaligned field after a bit: padding before the aligned octets', () => {
    expect(bits((w) => { w.bit(1); writeConstrained(w, 3, 0, 255); })).toBe('8003');
    expect(bits((w) => { w.bit(1); writeConstrained(w, 3, 0, 7); })).toBe('b0');
  });
});

describe('semi-constrained, unconstrained and normally small numbers', () => {
  it('semi-constrained: length octet, minimal octets of n-lb', () => {
    expect(bits((w) => writeSemiConstrained(w, 300, 0))).toBe('02012c');
    expect(bits((w) => writeSemiConstrained(w, 5, 5))).toBe('0100');
    expect(readSemiConstrained(new BitReader(Buffer.from('02012c', 'hex')), 0)).toBe(300);
    expect(enc(semiInteger(1), 256)).toBe('01FF');
    expect(enc(semiInteger(1), 257)).toBe('020100');
  });

  it('unconstrained (RandomVal): shortest two\'s complement', () => {
    const cases: Array<[bigint, string]> = [
      [0n, '0100'],
      [127n, '017F'],
      [128n, '020080'],
      [-1n, '01FF'],
      [-128n, '0180'],
      [-129n, '02FF7F'],
      [0x7fffffffn, '047FFFFFFF'],
      // An endpoint's "unsigned" 0x80000000 in four octets is -2^31 ...
      [-2147483648n, '0480000000'],
      // ... and the positive value needs five.
      [2147483648n, '050080000000'],
    ];
    for (const [v, out] of cases) {
      expect(enc(INTEGER, v)).toBe(out);
      expect(dec(INTEGER, hex(out))).toBe(v);
    }
    // Non-minimal forms are read (some endpoints always send four octets) and written minimal.
    expect(dec(INTEGER, hex('0400000005'))).toBe(5n);
    expect(decodePer(INTEGER, hex('00'))).toMatchObject({ ok: false, error: { code: 'invalid-encoding' } });
  });

  it('normally small: 0 and 6 bits up to 63, else 1 and a semi-constrained number', () => {
    expect(bits((w) => writeNormallySmall(w, 5))).toBe('0a');
    expect(bits((w) => writeNormallySmall(w, 63))).toBe('7e');
    expect(bits((w) => writeNormallySmall(w, 70))).toBe('800146');
    expect(readNormallySmall(new BitReader(hex('800146')))).toBe(70);
  });
});

// ---- lengths and strings ---------------------------------------------------------

describe('length determinants and fragmentation (10.9)', () => {
  const os = octetString();
  const cases: Array<[number, string]> = [
    [0, '00'],
    [127, '7f'],
    [128, '8080'],
    [16383, 'bfff'],
  ];
  for (const [n, head] of cases) {
    it(`${n} octets: length ${head}`, () => {
      const b = encodePer(os, Buffer.alloc(n, 0x5a));
      expect(b.subarray(0, head.length / 2).toString('hex')).toBe(head);
      expect(b.length).toBe(head.length / 2 + n);
      expect(dec(os, b)).toEqual(Buffer.alloc(n, 0x5a));
    });
  }

  it('16384 octets: one 16K fragment (C1) and a zero length', () => {
    const data = Buffer.alloc(16384, 1);
    const b = encodePer(os, data);
    expect(b[0]).toBe(0xc1);
    expect(b.length).toBe(1 + 16384 + 1);
    expect(b[b.length - 1]).toBe(0);
    expect(dec(os, b)).toEqual(data);
  });

  it('81920 + 3 octets: C4 (64K), C1 (16K), then 3', () => {
    const data = Buffer.alloc(81923);
    for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
    const b = encodePer(os, data);
    expect(b[0]).toBe(0xc4);
    expect(b[1 + 65536]).toBe(0xc1);
    expect(b[2 + 65536 + 16384]).toBe(3);
    expect(b.length).toBe(3 + 81923);
    expect(dec(os, b)).toEqual(data);
  });

  it('a fragmented SEQUENCE OF counts components, a fragmented BIT STRING counts bits', () => {
    const list = Array.from({ length: 16385 }, (_, i) => i % 2 === 0);
    const Bools = sequenceOf(BOOLEAN);
    const b = encodePer(Bools, list);
    expect(b[0]).toBe(0xc1);
    expect(dec(Bools, b)).toEqual(list);
    const bs = { data: Buffer.alloc(4096 + 1, 0xff), bitLength: 32769 };
    bs.data[4096] = 0x80;
    const eb = encodePer(bitString(), bs);
    expect(eb[0]).toBe(0xc2);
    expect(dec(bitString(), eb)).toEqual(bs);
  });

  it('fixed sizes carry no length; up to two octets (or 16 bits) they are not aligned', () => {
    const S = sequence<{ a: boolean; b: Buffer; c: Buffer }>('S', [field('a', BOOLEAN), field('b', octetString(2, 2)), field('c', octetString(4, 4))]);
    expect(enc(S, { a: true, b: hex('ffff'), c: hex('01020304') })).toBe('FFFF8001020304');
    const B = sequence<{ a: boolean; b: { data: Buffer; bitLength: number }; c: { data: Buffer; bitLength: number } }>('B', [
      field('a', BOOLEAN),
      field('b', bitString(3, 3)),
      field('c', bitString(32, 32)),
    ]);
    expect(enc(B, { a: true, b: { data: hex('a0'), bitLength: 3 }, c: { data: hex('deadbeef'), bitLength: 32 } })).toBe('D0DEADBEEF');
  });

  it('h323-ID BMPString (1..256): length n-1 in one aligned octet, 16 bits a character', () => {
    expect(enc(bmpString(1, 256), 'Ab')).toBe('0100410062');
    expect(enc(bmpString(1, 128), 'é')).toBe('0000E9'); // 1..128: 7-bit length field, then aligned
  });

  it('dialledDigits: 4 bits a character, remapped since "9" > 15', () => {
    const dd = ia5String(1, 128, { alphabet: '0123456789#*,' });
    // "#"=0 "*"=1 ","=2 "0"=3 … "9"=12; length 5-1 in 7 bits then aligned.
    expect(enc(dd, '0#9*,')).toBe('0830C120');
    expect(dec(dd, hex('08 30 c1 20'))).toBe('0#9*,');
    expect(decodePer(dd, hex('00 f0'))).toMatchObject({ ok: false, error: { code: 'invalid-encoding' } });
    expect(() => encodePer(dd, '12a')).toThrow(/not permitted/);
  });

  it('IA5String refuses codes above 127', () => {
    expect(decodePer(ia5String(), hex('01 80'))).toMatchObject({ ok: false, error: { code: 'invalid-encoding' } });
  });
});

describe('OBJECT IDENTIFIER (24)', () => {
  const cases: Array<[string, string]> = [
    ['0.0.8.2250.0.7', '060008914A0007'], // H.225.0 version 7, as every v7 RAS message starts
    ['1.3.6.1.4.1.32473', '082B0601040181FD59'],
    ['2.999.3', '03883703'],
  ];
  for (const [oid, out] of cases) {
    it(oid, () => {
      expect(enc(OBJECT_IDENTIFIER, oid)).toBe(out);
      expect(dec(OBJECT_IDENTIFIER, hex(out))).toBe(oid);
    });
  }
  it('refuses non-minimal and unterminated subidentifiers, and bad values', () => {
    expect(decodePer(OBJECT_IDENTIFIER, hex('03 2b 80 01'))).toMatchObject({ ok: false, error: { code: 'invalid-encoding' } });
    expect(decodePer(OBJECT_IDENTIFIER, hex('02 2b 86'))).toMatchObject({ ok: false, error: { code: 'invalid-encoding' } });
    expect(() => encodePer(OBJECT_IDENTIFIER, '3.1')).toThrow();
    expect(() => encodePer(OBJECT_IDENTIFIER, '1.40')).toThrow();
    expect(() => encodePer(OBJECT_IDENTIFIER, '1.03')).toThrow();
  });
});

// ---- constructed types -------------------------------------------------------

type Ch = { type: 'a'; value: null } | { type: 'b'; value: number } | { type: 'c'; value: string } | UnknownAlternative;

describe('CHOICE and SEQUENCE extensions (19, 23)', () => {
  const C = choice<Ch>('C', [alt('a', NULL), alt('b', integer(0, 255))], [alt('c', ia5String())]);

  it('root alternatives: extension bit 0, index in the fewest bits', () => {
    expect(enc(C, { type: 'a', value: null })).toBe('00');
    expect(enc(C, { type: 'b', value: 7 })).toBe('4007'); // 0 1, then aligned octet
  });

  it('an extension alternative: bit 1, normally small index, open type', () => {
    // 1 0000000 | length 03 | "hi" as IA5String: length 02, 68 69
    expect(enc(C, { type: 'c', value: 'hi' })).toBe('8003026869');
  });

  it('an unknown extension alternative is kept and written back', () => {
    const b = hex('81 02 abcd'); // index 1: not known to C
    const v = dec(C, b);
    expect(v).toEqual({ type: 'unknownExtension', index: 1, data: hex('abcd') });
    expect(encodePer(C, v)).toEqual(b);
  });

  it('an open type whose contents are longer than the value is refused', () => {
    expect(decodePer(C, hex('8004 026869 00'))).toMatchObject({ ok: false, error: { code: 'invalid-encoding' } });
  });

  it('an empty extension addition (NULL) travels as one zero octet', () => {
    interface S { x: number; flag?: null; y?: number; unknownExtensions?: UnknownExtension[] }
    const S = sequence<S>('S', [field('x', integer(0, 3))], [optional('flag', NULL), optional('y', integer(0, 255))]);
    // ext bit 1, x=2 (10), bitmap length 2 (0 000001), bits 1 1: 1100 0000 0111 | open types 01 00 and 01 05.
    expect(enc(S, { x: 2, flag: null, y: 5 })).toBe('C070010001 05'.replace(/ /g, ''));
    expect(dec(S, hex('C0700100 0105'))).toEqual({ x: 2, flag: null, y: 5 });
    // The bitmap stops at the last addition present: length 1 (0 000000), bit 1.
    expect(enc(S, { x: 2, flag: null })).toBe('C0 20 01 00'.replace(/ /g, ''));
  });
});

describe('decode robustness at the primitive level', () => {
  it('recursion through lazy types stops at the depth limit', () => {
    interface N { next?: N }
    const Node: Codec<N> = sequence<N>('N', [optional('next', lazy(() => Node))]);
    const deep = Buffer.alloc(100, 0xff); // every bit says "next present"
    expect(decodePer(Node, deep)).toMatchObject({ ok: false, error: { code: 'too-large' } });
  });

  it('trailing octets after the value are refused; padding bits are not', () => {
    expect(decodePer(integer(0, 7), hex('a0'))).toMatchObject({ ok: true, value: 5 });
    expect(decodePer(integer(0, 7), hex('a1'))).toMatchObject({ ok: true, value: 5 });
    expect(decodePer(integer(0, 7), hex('a000'))).toMatchObject({ ok: false, error: { code: 'trailing-data' } });
  });

  it('an empty complete encoding is one zero octet', () => {
    expect(encodePer(NULL, null)).toEqual(hex('00'));
    expect(decodePer(NULL, hex('00'))).toMatchObject({ ok: true, value: null });
  });
});
