/**
 * A UDP datagram from a source port no socket can bind: 0. An attacker's raw
 * socket sends it and Linux delivers it; Node's `send` to port 0 throws at
 * once, so a transport that answers its source must catch that. Needs root
 * (CAP_NET_RAW) and python3 (sipvicious, which CI installs, brings it).
 */
import { spawnSync } from 'node:child_process';

const SCRIPT = `
import socket, struct, sys
dst, port, payload = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
s.sendto(struct.pack('!HHHH', 0, port, 8 + len(payload), 0) + payload, (dst, 0))
`;

/** Why raw sends cannot run here, or undefined when they can. */
export function rawUdpUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'raw UDP from port 0 needs root';
  const r = spawnSync('python3', ['-c', 'import socket'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : 'raw UDP from port 0 needs python3';
}

/** Sends `payload` to 127.0.0.1-style IPv4 `address`:`port` from source port 0 (same source address). */
export function sendFromPort0(address: string, port: number, payload: Buffer): void {
  const r = spawnSync('python3', ['-c', SCRIPT, address, String(port), payload.toString('hex')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`raw UDP send failed: ${r.stderr.trim()}`);
}
