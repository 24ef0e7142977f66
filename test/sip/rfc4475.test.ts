/**
 * RFC 4475 torture messages, written from the RFC text (§3.1). Valid ones must parse to the
 * values the RFC describes; invalid ones must come back as a typed error naming the fault
 * (so the stack can answer 400), never as an exception.
 */
import { describe, expect, it } from 'vitest';
import { parseMessage, serialize, isSipUri, isStar, type SipRequest, type SipResponse, type SipUri } from '../../src/sip/index.js';

/** LF → CRLF, the RFC's convention for its listings. */
const wire = (s: string): Buffer => Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'utf8');

function ok(b: Buffer): SipRequest | SipResponse {
  const r = parseMessage(b);
  if (!r.ok) throw new Error(`expected a valid message, got ${r.error.header}: ${r.error.reason}`);
  return r.message;
}
function bad(b: Buffer): { header: string; reason: string; status: number; partial?: SipRequest | SipResponse } {
  const r = parseMessage(b);
  if (r.ok) throw new Error('expected a parse error');
  expect(r.error.internal).toBeFalsy();
  return r.error;
}
const sdp = (ip: string): string => `v=0
o=mhandley 29739 7272939 IN IP4 ${ip}
s=-
c=IN IP4 ${ip}
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
`;

describe('RFC 4475 §3.1.1 valid messages', () => {
  it('3.1.1.1 wsinv: short tortuous INVITE', () => {
    const b = wire(`INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

${sdp('192.0.2.3').replace('IN IP4 192.0.2.3\ns=-\nc=IN IP4 192.0.2.3', 'IN IP4 192.0.2.3\ns=-\nc=IN IP4 192.0.2.4')}`);
    const m = ok(b) as SipRequest;
    expect(m.method).toBe('INVITE');
    expect(m.to().params.tag).toBe('1918181833n');
    expect(m.from().displayName).toBe('J Rosenberg \\"');
    expect(m.from().params.tag).toBe('98asjd8');
    expect(m.maxForwards()).toBe(68);
    expect(m.cseq()).toEqual({ seq: 9, method: 'INVITE' });
    expect(m.callId()).toBe('wsinv.ndaksdj@192.0.2.1');
    expect(m.vias().map((v) => [v.transport, v.host, v.params.branch])).toEqual([
      ['UDP', '192.0.2.2', '390skdjuw'],
      ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
      ['UDP', '192.168.255.111', 'z9hG4bK30239'],
    ]);
    expect(m.get('Subject')).toBe('');
    expect(m.get('NewFangledHeader')).toBe('newfangled value continued newfangled value');
    expect(m.get('UnknownHeaderWithUnusualValue')).toBe(';;,,;;,;');
    const c = m.contacts()[0]!;
    expect(isStar(c)).toBe(false);
    if (!isStar(c)) {
      expect(c.displayName).toBe('Quoted string ""');
      expect(c.params).toEqual(Object.assign(Object.create(null), { newparam: 'newvalue', secondparam: null, q: '0.33' }));
    }
    const route = m.routes()[0]!.uri as SipUri;
    expect(route.params.lr).toBeNull();
    expect(route.params.unknownwith).toBe('value');
    expect(m.body.length).toBe(150);
    expect(serialize(m).equals(b)).toBe(true);
  });

  it('3.1.1.2 intmeth: wide range of valid characters', () => {
    const b = Buffer.concat([
      wire(`!interesting-Method0123456789_*+\`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+\`'~
To: "BEL:\\`),
      Buffer.from([0x07]),
      wire(` NUL:\\`),
      Buffer.from([0x00]),
      wire(` DEL:\\`),
      Buffer.from([0x7f]),
      wire(`" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>
From: token1~\` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%="работающий";tag=_token~1'+\`*%!-.
Call-ID: intmeth.word%ZK-!.*_+'@word\`~)(><:\\/"][?}{
CSeq: 139122385 !interesting-Method0123456789_*+\`.%indeed'~
Max-Forwards: 255
extensionHeader-!.%*+_\`'~: 大停電
Content-Length: 0

`),
    ]);
    const m = ok(b) as SipRequest;
    expect(m.method).toBe("!interesting-Method0123456789_*+`.%indeed'~");
    const ru = m.requestUri() as SipUri;
    expect(ru.user).toBe("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    expect(ru.password).toBe("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    expect(ru.host).toBe('example.com');
    expect(m.to().displayName).toBe('BEL:\x07 NUL:\x00 DEL:\x7f');
    expect(m.from().displayName).toBe("token1~` token2'+_ token3*%!.-");
    expect(m.from().params["fromparam''~+*_!.-%"]).toBe('"работающий"');
    expect(m.from().params.tag).toBe("_token~1'+`*%!-.");
    expect(m.callId()).toBe('intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
    expect(m.maxForwards()).toBe(255);
    expect(m.get("extensionHeader-!.%*+_`'~")).toBe('大停電');
    expect(serialize(m).equals(b)).toBe(true);
  });

  it('3.1.1.3 esc01: valid %-escapes stay as written', () => {
    const m = ok(wire(`INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: 150

${sdp('192.0.2.1')}`)) as SipRequest;
    expect((m.requestUri() as SipUri).user).toBe('sips%3Auser%40example.com');
    expect((m.requestUri() as SipUri).host).toBe('example.net');
    expect((m.to().uri as SipUri).user).toBe('%75se%72');
    expect(m.callId()).toBe('esc01.239409asdfakjkn23onasd0-3234');
    expect(m.contentType()?.subtype).toBe('sdp');
    const c = m.contacts()[0]!;
    expect(!isStar(c) && (c.uri as SipUri).params['n%61me']).toBe('v%61lue%25%34%31');
  });

  it('3.1.1.4 escnull: escaped nulls in URIs', () => {
    const m = ok(wire(`REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0

`));
    expect(m.contacts().map((c) => (!isStar(c) && isSipUri(c.uri) ? c.uri.user : ''))).toEqual(['%00', '%00%00']);
    expect(m.from().params.tag).toBe('839923423');
  });

  it('3.1.1.5 esc02: % that is not an escape', () => {
    const m = ok(wire(`RE%47IST%45R sip:registrar.example.com SIP/2.0
To: "%Z%45" <sip:resource@example.com>
From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0

`)) as SipRequest;
    expect(m.method).toBe('RE%47IST%45R');
    expect(m.to().displayName).toBe('%Z%45');
    expect(m.topVia()!.params.branch).toBe('z9hG4bK209%fzsnel234');
    expect(m.contacts()).toHaveLength(2);
    expect(m.get('C%6Fntact')).toBe('<sip:alias2@host2.example.com>');
  });

  it('3.1.1.6 lwsdisp: no LWS between display name and <', () => {
    const m = ok(wire(`OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0

`));
    expect(m.from().displayName).toBe('caller');
    expect(m.from().params.tag).toBe('323');
  });

  it('3.1.1.7 longreq: long values and 34 Via headers in any case', () => {
    const vias = Array.from({ length: 33 }, (_, k) => {
      const names = ['Via', 'v', 'V', 'Via', 'ViA', 'VIa', 'VIA', 'via', 'viA', 'vIa', 'vIA', 'V ', 'v ', 'V  ', 'v  ', 'Via ', 'Via  '];
      return `${names[k] ?? 'Via'}: SIP/2.0/TCP sip${33 - k}.example.com`;
    }).join('\n');
    const m = ok(wire(`INVITE sip:user@example.com SIP/2.0
To: "I have a user name of ${'extreme'.repeat(10)} proportion" <sip:user@example.com:6000;unknownparam1=very${'long'.repeat(20)}value;longparam${'name'.repeat(25)}=shortvalue;very${'long'.repeat(25)}ParameterNameWithNoValue>
F: sip:${'amazinglylongcallername'.repeat(5)}@example.net;tag=12${'982'.repeat(50)}424;unknownheaderparam${'name'.repeat(20)}=unknowheaderparam${'value'.repeat(15)};unknownValueless${'paramname'.repeat(10)}
Call-ID: longreq.one${'really'.repeat(20)}longcallid
CSeq: 3882340 INVITE
Unknown-${'Long'.repeat(20)}-Name: unknown-${'long'.repeat(20)}-value;unknown-${'long'.repeat(20)}-parameter-name=unknown-${'long'.repeat(20)}-parameter-value
${vias}
Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very${'long'.repeat(50)}branchvalue
Max-Forwards: 70
Contact: <sip:${'amazinglylongcallername'.repeat(5)}@host5.example.net>
Content-Type: application/sdp
l: 150

${sdp('192.0.2.1')}`));
    expect(m.vias()).toHaveLength(34);
    expect(m.vias()[33]!.params.received).toBe('192.0.2.5');
    expect((m.to().uri as SipUri).port).toBe(6000);
    expect(m.from().params.tag).toBe('12' + '982'.repeat(50) + '424');
    expect(m.body.length).toBe(150);
  });

  it('3.1.1.8 dblreq: extra octets after Content-Length in a datagram are ignored', () => {
    const m = ok(wire(`REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0

INVITE sip:joe@example.com SIP/2.0
t: sip:joe@example.com
From: sip:caller@example.net;tag=141334
Max-Forwards: 8
Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234
Content-Type: application/sdp
Content-Length: 150

${sdp('192.0.2.15')}`)) as SipRequest;
    expect(m.method).toBe('REGISTER');
    expect(m.body.length).toBe(0);
  });

  it('3.1.1.9 semiuri: ; in the user part', () => {
    const m = ok(wire(`OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0

`)) as SipRequest;
    const u = m.requestUri() as SipUri;
    expect(u.user).toBe('user;par=u%40example.net');
    expect(u.host).toBe('example.com');
    expect(Object.keys(u.params)).toHaveLength(0);
    expect(m.list('Accept')).toHaveLength(6);
  });

  it('3.1.1.10 transports: varied and unknown transports', () => {
    const m = ok(wire(`OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID:  transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0

`));
    expect(m.vias().map((v) => v.transport)).toEqual(['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']);
  });

  it('3.1.1.11 mpart01: a multipart body with binary parts is kept byte for byte', () => {
    const binary = Buffer.from(Array.from({ length: 256 }, (_, k) => k));
    const body = Buffer.concat([
      Buffer.from('--boundary42\r\nContent-Type: text/plain\r\n\r\nhello\r\n--boundary42\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n'),
      binary,
      Buffer.from('\r\n--boundary42--\r\n'),
    ]);
    const head = wire(`MESSAGE sip:kumiko@example.org SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport
Max-Forwards: 70
Route: <sip:127.0.0.1:5080>
Contact: <sip:fluffy@127.0.0.1:5070>
To: <sip:kumiko@example.org>
From: <sip:fluffy@example.com>;tag=2fb0dcc9
Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..
CSeq: 1 MESSAGE
Content-Type: multipart/mixed;boundary=7a9cbec02ceef655
Content-Length: ${body.length}

`);
    const b = Buffer.concat([head, body]);
    const m = ok(b);
    expect(m.body.equals(body)).toBe(true);
    expect(m.contentType()?.params.boundary).toBe('7a9cbec02ceef655');
    expect(serialize(m).equals(b)).toBe(true);
  });

  it('3.1.1.12 unreason: UTF-8 reason phrase', () => {
    const m = ok(wire(`SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 154
Content-Type: application/sdp
Contact: <sip:user@host198.example.com>

${sdp('192.0.2.198')}`)) as SipResponse;
    expect(m.status).toBe(200);
    expect(m.reason).toBe('= 2**3 * 5**2 но сто девяносто девять - простое');
    expect(m.body.length).toBe(154);
  });

  it.each(['SIP/2.0 100 ', 'SIP/2.0 100'])('3.1.1.13 noreason: empty reason phrase (%j)', (line) => {
    const m = ok(wire(`${line}
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

`)) as SipResponse;
    expect(m.status).toBe(100);
    expect(m.reason).toBe('');
  });
});

const HEAD = `To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: torture.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw`;

describe('RFC 4475 §3.1.2 invalid messages', () => {
  it('3.1.2.1 badinv01: extraneous header field separators → 400 naming Via', () => {
    const e = bad(wire(`INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: "Joe" <sip:joe@example.org>;;;;
Content-Length: 152
Content-Type: application/sdp

${sdp('192.0.2.15')}`));
    expect(e.header).toBe('Via');
    expect(e.status).toBe(400);
  });

  it('3.1.2.2 clerr: Content-Length larger than the datagram', () => {
    const e = bad(wire(`INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999

${sdp('192.0.2.155')}`));
    expect(e.header).toBe('Content-Length');
  });

  it('3.1.2.3 ncl: negative Content-Length', () => {
    const e = bad(wire(`INVITE sip:user@example.com SIP/2.0
Max-Forwards: 254
To: sip:j.user@example.com
From: sip:caller@example.net;tag=32394234
Call-ID: ncl.0ha0isndaksdj2193423r542w35
CSeq: 0 INVITE
Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw
Contact: <sip:caller@example53.example.net>
Content-Type: application/sdp
Content-Length: -999

${sdp('192.0.2.53')}`));
    expect(e.header).toBe('Content-Length');
  });

  it('3.1.2.4 scalarlg: overlarge CSeq and Max-Forwards', () => {
    const base = `REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 1${'0'.repeat(100)}
Contact: <sip:user@host129.example.com>
  ;expires=280297596632815
Content-Length: 0

`;
    expect(bad(wire(base)).header).toBe('CSeq');
    const mf = bad(wire(base.replace('36893488147419103232', '1')));
    expect(mf.header).toBe('Max-Forwards');
    // Expires above 2^32-1 is read as 2^32-1 (RFC 3261 §20.19), not refused
    const m = ok(wire(base.replace('36893488147419103232', '1').replace('300', '70')));
    expect(m.expires()).toBe(4294967295);
  });

  it('3.1.2.5 scalar1: overlarge status code', () => {
    const e = bad(wire(`SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

`));
    expect(e.header).toBe('start-line');
  });

  it('3.1.2.6 quotbal: unterminated quoted string in display name', () => {
    const e = bad(wire(`INVITE sip:user@example.com SIP/2.0
To: "Mr. J. User <sip:j.user@example.com>
From: sip:caller@example.net;tag=93334
Max-Forwards: 10
Call-ID: quotbal.aksdj
Contact: <sip:caller@host59.example.net>
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234
Content-Type: application/sdp
Content-Length: 152

${sdp('192.0.2.15')}`));
    expect(e.header).toBe('To');
  });

  it.each([
    ['3.1.2.7 ltgtruri: <> around the Request-URI', 'INVITE <sip:user@example.com> SIP/2.0', 'Request-URI'],
    ['3.1.2.8 lwsruri: LWS inside the Request-URI', 'INVITE sip:user@example.com; lr SIP/2.0', 'start-line'],
    ['3.1.2.9 lwsstart: several SP between elements', 'INVITE  sip:user@example.com  SIP/2.0', 'start-line'],
    ['3.1.2.10 trws: SP at the end of the request line', 'INVITE sip:user@example.com SIP/2.0  ', 'start-line'],
    ['3.1.2.11 escruri: escaped headers in the Request-URI', 'INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0', 'Request-URI'],
  ])('%s', (_name, line, header) => {
    const e = bad(wire(`${line}\n${HEAD}\nContent-Length: 0\n\n`));
    expect(e.header).toBe(header);
    expect(e.status).toBe(400);
    // the header section is sound: the stack can answer 400 with the request's Via
    expect(e.partial?.isRequest() && (e.partial as SipRequest).method).toBe('INVITE');
    expect(e.partial!.topVia()!.params.branch).toBe('z9hG4bKkdjuw');
  });

  it('300 headers and a 9,000-character header line: errors that still allow a 400', () => {
    const many = Array.from({ length: 300 }, (_, n) => `X-Filler-${n}: ${n}`).join('\n');
    const e1 = bad(wire(`INVITE sip:user@example.com SIP/2.0\n${many}\n${HEAD}\nContent-Length: 0\n\n`));
    expect(e1).toMatchObject({ header: 'message', reason: 'too many headers', status: 400 });
    expect(e1.partial!.topVia()!.params.branch).toBe('z9hG4bKkdjuw');
    expect(e1.partial!.callId()).toBe('torture.0ha0isndaksdjasdf3234nas');
    const e2 = bad(wire(`INVITE sip:user@example.com SIP/2.0\n${HEAD}\nSubject: ${'x'.repeat(9000)}\nContent-Length: 0\n\n`));
    expect(e2).toMatchObject({ header: 'Subject', reason: 'line too long', status: 400 });
    expect(e2.partial!.topVia()!.params.branch).toBe('z9hG4bKkdjuw');
    expect(e2.partial!.has('Subject')).toBe(false);
  });

  it.each([
    ['Request-URI', 'INVITE sip:user@[::1:zz] SIP/2.0', 'To: sip:j.user@example.com'],
    ['Request-URI', 'INVITE sip:user@[::1::2] SIP/2.0', 'To: sip:j.user@example.com'],
    ['Request-URI', 'INVITE sip:user@[:] SIP/2.0', 'To: sip:j.user@example.com'],
    ['Via', 'INVITE sip:user@example.com SIP/2.0', 'Via: SIP/2.0/UDP [1:2];branch=z9hG4bKv6'],
    ['To', 'INVITE sip:user@example.com SIP/2.0', 'To: <sip:j.user@[fe80::1::]>'],
  ])('a junk IPv6 reference in the %s is refused', (header, line, extra) => {
    const head = HEAD.split('\n').filter((h) => !h.startsWith(extra.split(':')[0]! + ':')).join('\n');
    const e = bad(wire(`${line}\n${extra}\n${head}\nContent-Length: 0\n\n`));
    expect(e.header).toBe(header);
  });

  it('3.1.2.12 baddate: a Date we do not interpret is carried unchanged', () => {
    const b = wire(`INVITE sip:user@example.com SIP/2.0\n${HEAD}\nDate: Fri, 01 Jan 2010 16:00:00 EST\nContent-Length: 0\n\n`);
    const m = ok(b);
    expect(m.get('Date')).toBe('Fri, 01 Jan 2010 16:00:00 EST');
    expect(serialize(m).equals(b)).toBe(true);
  });

  it('3.1.2.13 regbadct: Contact URI with ? not in <> is refused when the registrar reads it', () => {
    const m = ok(wire(`REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=998332
Max-Forwards: 70
Call-ID: regbadct.k345asrl3fdbv@10.0.0.1
CSeq: 1 REGISTER
Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw
Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E
l: 0

`));
    expect(() => m.contacts()).toThrow(/Contact/);
  });

  it('3.1.2.14 badaspec: spaces inside <>', () => {
    const e = bad(wire(`OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234
Max-Forwards: 70
From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423
To: "Watson, Thomas" < sip:t.watson@example.org >
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0

`));
    expect(e.header).toBe('To');
  });

  it('3.1.2.15 baddn: unquoted display name with a comma', () => {
    const e = bad(wire(`OPTIONS sip:t.watson@example.org SIP/2.0
Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards:      70
From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43
To:      Watson, Thomas <sip:t.watson@example.org>
Call-ID: baddn.31415@c.example.com
Accept: application/sdp
CSeq:    3923239 OPTIONS
l: 0

`));
    expect(e.header).toBe('From');
  });

  it('3.1.2.16 badvers: unknown SIP version → 505', () => {
    const e = bad(wire(`OPTIONS sip:t.watson@example.org SIP/7.0
Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw
Max-Forwards:     70
From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe
To:      T. Watson <sip:t.watson@example.org>
Call-ID: badvers.31417@c.example.com
CSeq:    1 OPTIONS
l: 0

`));
    expect(e.status).toBe(505);
  });

  it.each([
    ['3.1.2.17 mismatch01: CSeq method differs from the request line', 'OPTIONS'],
    ['3.1.2.18 mismatch02: unknown method, CSeq differs', 'NEWMETHOD'],
  ])('%s', (_n, method) => {
    const e = bad(wire(`${method} sip:user@example.com SIP/2.0\n${HEAD}\nContent-Length: 0\n\n`));
    expect(e.header).toBe('CSeq');
  });

  it('multi01 (§3.3.x): several values in single-value headers', () => {
    const e = bad(wire(`INVITE sip:user@company.com SIP/2.0
Contact: <sip:caller@host25.example.net>
Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw
Max-Forwards: 70
CSeq: 5 INVITE
Call-ID: multi01.98asdh@192.0.2.1
CSeq: 59 INVITE
Call-ID: multi01.98asdh@192.0.2.2
From: sip:caller@example.com;tag=3413415
To: sip:user@example.com
To: sip:other@example.net
From: sip:caller@example.net;tag=2923420123
Content-Type: application/sdp
l: 0
Call-ID: multi01.98asdh@192.0.2.3
Max-Forwards: 5

`));
    expect(['From', 'To', 'Call-ID', 'CSeq', 'Max-Forwards']).toContain(e.header);
  });

  it('mcl01: conflicting Content-Length values', () => {
    const e = bad(wire(`OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423
To: sip:user@example.com
From: sip:other@example.net;tag=3923942
Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf
CSeq: 15932 OPTIONS
Content-Length: 13
Max-Forwards: 60
Content-Length: 5
Content-Type: text/plain

There's no way to know how many octets are supposed to be here.
`));
    expect(e.header).toBe('Content-Length');
  });

  it('insuf: missing Call-ID, From, To', () => {
    const e = bad(wire(`INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
Content-Type: application/sdp
l: 0

`));
    expect(['From', 'To', 'Call-ID']).toContain(e.header);
  });
});

describe('RFC 4475 §3.2/§3.3: parse fine, the application decides', () => {
  it.each([
    ['unkscm: unknown Request-URI scheme', 'OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0', 'nobodyknowsthisscheme'],
    ['novelsc: novel scheme', 'OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0', 'soap.beep'],
  ])('%s', (_n, line, scheme) => {
    const m = ok(wire(`${line.replace('OPTIONS', 'INVITE')}\n${HEAD}\nContent-Length: 0\n\n`)) as SipRequest;
    expect(m.requestUri().scheme).toBe(scheme);
  });

  it('unksm2: To with a non-SIP URI', () => {
    const m = ok(wire(`REGISTER sip:example.com SIP/2.0
To: isbn:2983792873
From: <http://www.example.com>;tag=3234233
Call-ID: unksm2.daksdj@hyphenated-host.example.com
CSeq: 234902 REGISTER
Max-Forwards: 70
Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw
Contact: <name@example.com>
l: 0

`));
    expect(m.to().uri.scheme).toBe('isbn');
    expect(m.from().uri.scheme).toBe('http');
  });

  it('zeromf and badbranch parse; Max-Forwards 0 and a bare magic cookie are visible to the TU', () => {
    const m = ok(wire(`OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bK
To: sip:user@example.com
From: sip:caller@example.com;tag=3ghsd41
Call-ID: zeromf.3459845098340598@host1.example.com
CSeq: 39234321 OPTIONS
Max-Forwards: 0
l: 0

`));
    expect(m.maxForwards()).toBe(0);
    expect(m.topVia()!.params.branch).toBe('z9hG4bK');
  });

  it('regaut01: unknown authorization scheme', () => {
    const m = ok(wire(`REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=87321hj23128
Max-Forwards: 8
Call-ID: regaut01.0ha0isndaksdj
CSeq: 9338 REGISTER
Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw
Authorization: NoOneKnowsThisScheme opaque-data=here
Content-Length:0

`));
    expect(m.auth('Authorization')[0]).toEqual({ scheme: 'NoOneKnowsThisScheme', params: Object.assign(Object.create(null), { 'opaque-data': 'here' }) });
  });

  it('inv2543: an RFC 2543 INVITE without branch', () => {
    const m = ok(wire(`INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.15
From: <sip:UserA@example.com>
To: <sip:UserB@example.com>
Call-ID: 14b9d11d-@192.0.2.15
CSeq: 1 INVITE
Max-Forwards: 70
Content-Length: 0

`));
    expect(m.topVia()!.params.branch).toBeUndefined();
  });
});
