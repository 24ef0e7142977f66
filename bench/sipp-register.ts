/**
 * sipp's Digest REGISTER (bench/sipp/register-digest-inf.xml, as captured from a run against
 * keyswitch: user u1, its second CSeq, with credentials) and the core's 200 to it, for the
 * in-process benches that time one registration's parse, forward or signature. Imports nothing
 * of src/, so benches that load another tree's src/ (the `[tree]` argument) can use it too.
 */

/** sipp's Authorization value, the one a Digest registration's second REGISTER carries. */
export const SIPP_DIGEST =
  'Digest username="u1",realm="lab.example",cnonce="6b8b4567",nc=00000001,qop=auth,uri="sip:127.0.0.1:20148",nonce="EA_SG3d813d1SFng5Rbv0gt6ICPHEhjLVI0TXXiEb3U68NmJkrmV-klkS2k",response="deca23e2a52650a4e052b9cd0dc51f15",algorithm=MD5,opaque="cWLyk3etmQy9NxVO"';
/** The Via sipp sends (the SBC adds rport and received on arrival). */
export const SIPP_VIA = 'SIP/2.0/UDP 127.0.0.1:45999;branch=z9hG4bK-7106-1-3';
export const SIPP_FROM = '<sip:u1@127.0.0.1>;tag=7106SIPpTag001';

export interface SippRegisterOptions {
  /** Parameters after sipp's Via, e.g. `;rport=45999;received=127.0.0.1` as the SBC forwards it. */
  viaParams?: string;
  maxForwards?: number;
  /** Header lines after User-Agent, e.g. the P-KS-* the SBC adds. */
  extra?: readonly string[];
}

/** sipp's Digest REGISTER as bytes; by default as sipp sends it. */
export function sippRegister(o: SippRegisterOptions = {}): Buffer {
  return Buffer.from([
    'REGISTER sip:127.0.0.1:20148 SIP/2.0',
    `Via: ${SIPP_VIA}${o.viaParams ?? ''}`,
    `From: ${SIPP_FROM}`,
    'To: <sip:u1@127.0.0.1>',
    'Call-ID: 1-7106@127.0.0.1',
    'CSeq: 2 REGISTER',
    'Contact: <sip:u1@127.0.0.1:45999>',
    `Authorization: ${SIPP_DIGEST}`,
    `Max-Forwards: ${o.maxForwards ?? 70}`, 'Expires: 3600', 'User-Agent: sipp', ...(o.extra ?? []), 'Content-Length: 0', '', ''].join('\r\n'));
}

/** The softswitch's 200 to it as the SBC receives it: the SBC's Via on top of sipp's. */
export const SIPP_REGISTER_200 = Buffer.from([
  'SIP/2.0 200 OK',
  'Via: SIP/2.0/UDP 127.0.0.1:42225;branch=z9hG4bK.abcdefghijklmnopqrstuv;rport=42225;received=127.0.0.1',
  `Via: ${SIPP_VIA};received=127.0.0.1`,
  `From: ${SIPP_FROM}`,
  'To: <sip:u1@127.0.0.1>;tag=-zu5_hcJjjU',
  'Call-ID: 1-7106@127.0.0.1',
  'CSeq: 2 REGISTER',
  'Contact: <sip:u1@127.0.0.1:45999>;expires=3600',
  'Date: Sat, 05 Dec 2026 05:39:21 GMT',
  'Content-Length: 0', '', ''].join('\r\n'));
