/**
 * Writes classic pcap files (Ethernet + IPv4/IPv6 + UDP/TCP) from payloads,
 * so tests can hand what our codecs produce to tshark's dissectors.
 * TCP segments get per-flow sequence numbers (no handshake; tshark copes).
 */
import { writeFileSync } from 'node:fs';
import { isIP } from 'node:net';

export interface PcapPacket {
  proto: 'udp' | 'tcp';
  src: [string, number];
  dst: [string, number];
  payload: Buffer;
  /** Unix ms; default: start time + 1 ms per packet. */
  time?: number;
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  if (isIP(ip) !== 6) throw new Error(`not an IP address: ${ip}`);
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return out;
}

function sum16(buf: Buffer, acc = 0): number {
  for (let i = 0; i + 1 < buf.length; i += 2) acc += buf.readUInt16BE(i);
  if (buf.length % 2) acc += buf[buf.length - 1] << 8;
  return acc;
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}

function transportChecksum(src: Buffer, dst: Buffer, proto: number, segment: Buffer): number {
  const pseudo = Buffer.alloc(src.length === 4 ? 12 : 40);
  if (src.length === 4) {
    src.copy(pseudo, 0);
    dst.copy(pseudo, 4);
    pseudo[9] = proto;
    pseudo.writeUInt16BE(segment.length, 10);
  } else {
    src.copy(pseudo, 0);
    dst.copy(pseudo, 16);
    pseudo.writeUInt32BE(segment.length, 32);
    pseudo[39] = proto;
  }
  const c = fold(sum16(segment, sum16(pseudo)));
  return c === 0 ? 0xffff : c;
}

export function writePcap(path: string, packets: PcapPacket[]): void {
  const seq = new Map<string, number>();
  const start = Date.now();
  const chunks: Buffer[] = [];
  const global = Buffer.alloc(24);
  global.writeUInt32LE(0xa1b2c3d4, 0);
  global.writeUInt16LE(2, 4);
  global.writeUInt16LE(4, 6);
  global.writeUInt32LE(262144, 16);
  global.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
  chunks.push(global);

  packets.forEach((p, n) => {
    const src = ipBytes(p.src[0]);
    const dst = ipBytes(p.dst[0]);
    if (src.length !== dst.length) throw new Error('mixed IPv4/IPv6 in one packet');
    const protoNum = p.proto === 'udp' ? 17 : 6;
    let segment: Buffer;
    if (p.proto === 'udp') {
      segment = Buffer.alloc(8 + p.payload.length);
      segment.writeUInt16BE(p.src[1], 0);
      segment.writeUInt16BE(p.dst[1], 2);
      segment.writeUInt16BE(segment.length, 4);
      p.payload.copy(segment, 8);
    } else {
      const flow = `${p.src.join('/')}>${p.dst.join('/')}`;
      const s = seq.get(flow) ?? 1000;
      seq.set(flow, (s + p.payload.length) >>> 0);
      const back = seq.get(`${p.dst.join('/')}>${p.src.join('/')}`) ?? 1000;
      segment = Buffer.alloc(20 + p.payload.length);
      segment.writeUInt16BE(p.src[1], 0);
      segment.writeUInt16BE(p.dst[1], 2);
      segment.writeUInt32BE(s >>> 0, 4);
      segment.writeUInt32BE(back >>> 0, 8);
      segment[12] = 5 << 4;
      segment[13] = 0x18; // PSH, ACK
      segment.writeUInt16BE(65535, 14);
      p.payload.copy(segment, 20);
    }
    segment.writeUInt16BE(transportChecksum(src, dst, protoNum, segment), p.proto === 'udp' ? 6 : 16);

    let ip: Buffer;
    if (src.length === 4) {
      ip = Buffer.alloc(20);
      ip[0] = 0x45;
      ip.writeUInt16BE(20 + segment.length, 2);
      ip.writeUInt16BE(n & 0xffff, 4);
      ip[8] = 64;
      ip[9] = protoNum;
      src.copy(ip, 12);
      dst.copy(ip, 16);
      ip.writeUInt16BE(fold(sum16(ip)), 10);
    } else {
      ip = Buffer.alloc(40);
      ip.writeUInt32BE(0x60000000, 0);
      ip.writeUInt16BE(segment.length, 4);
      ip[6] = protoNum;
      ip[7] = 64;
      src.copy(ip, 8);
      dst.copy(ip, 24);
    }
    const eth = Buffer.from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0, 0]);
    eth.writeUInt16BE(src.length === 4 ? 0x0800 : 0x86dd, 12);
    const frame = Buffer.concat([eth, ip, segment]);
    const t = p.time ?? start + n;
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(Math.floor(t / 1000), 0);
    rec.writeUInt32LE((t % 1000) * 1000, 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    chunks.push(rec, frame);
  });
  writeFileSync(path, Buffer.concat(chunks));
}
