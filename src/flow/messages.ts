/**
 * The protocol-neutral messages of docs/design.md's flow (s1..s11). Adapters for
 * SIP, MGCP, H.248 and H.323 decode their wire form into these and encode
 * these back; the state machines in this folder see nothing else.
 *
 * Byte values are Buffers (N1/N2/Rand 16 bytes, authenticator/MAC 16,
 * wrapped keys 60); `ts` is Unix time in whole seconds.
 */

export interface Mechanism {
  name: string;
  q: number;
}

/** A mechanism list with the exact text it was carried as (the s10 MAC covers `mechs` as sent). */
export interface MechanismList {
  items: Mechanism[];
  text: string;
}

/** s1 terminal → SBC. `idsp` is absent when the terminal does not know its SBC yet. */
export interface S1 {
  idc: string;
  idsp?: string;
  n1: Buffer;
  ts: number;
}

/** s2 SBC → softswitch. */
export interface S2 {
  idc: string;
  idsp: string;
}

/** s5 softswitch → SBC: registration failure carrying the challenge. */
export interface S5 {
  idc: string;
  idsp: string;
  rand: Buffer;
}

/** s6 SBC → terminal. `offered` is what this SBC offers (SIP Security-Server). */
export interface S6 {
  idc: string;
  idsp: string;
  n1: Buffer; // echo of the N1 that asked
  n2: Buffer;
  ts: number;
  rand: Buffer;
  offered: MechanismList;
}

/** s7 terminal → SBC. `rand` is optional on the wire (SIP carries it as `nonce`); the SBC knows it from N2. */
export interface S7 {
  idc: string;
  idsp?: string;
  n1: Buffer; // N1', new
  n2: Buffer; // echo of s6's N2
  ts: number;
  rand?: Buffer;
  authenticator: Buffer;
  mechs: MechanismList;
}

/** s8 SBC → softswitch. `mech` and `ipc` are what the softswitch needs for s11. */
export interface S8 {
  idc: string;
  idsp: string;
  rand: Buffer;
  authenticator: Buffer;
  mech?: string;
  ipc?: string;
}

/** s9 softswitch → SBC on success. */
export interface S9 {
  idc: string;
  idsp: string;
  rand: Buffer;
  ekc: Buffer;
  eksp: Buffer;
}

/** s10 SBC → terminal. `mechs` is the terminal's list as sent, white space removed. */
export interface S10 {
  idc: string;
  idsp: string;
  n1: Buffer; // echo of N1'
  n2: Buffer; // N2'
  ts: number;
  ekc: Buffer;
  mech: string;
  mechs: string;
  mac: Buffer;
}

/** Clock in Unix milliseconds (Date.now in service). */
export type Clock = () => number;
/** Random bytes (crypto.randomBytes in service). */
export type RandomBytes = (n: number) => Buffer;

export const unixSeconds = (ms: number): number => Math.floor(ms / 1000);
