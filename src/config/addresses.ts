import { ConfigError } from './load.js';

/** `host:port` or `[v6]:port`, as settings write peers. */
export function parseHostPort(text: string, setting: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text.trim()) ?? /^([^:\s]+):(\d+)$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`${setting}: expected host:port, got ${JSON.stringify(text)}`);
  return { host: m[1]!, port };
}

/** A `host:port` setting the role cannot do without (empty means unset). */
export function requiredHostPort(value: { host: string; port: number } | undefined, setting: string): { host: string; port: number } {
  if (!value) throw new ConfigError(`${setting} must be set (host:port)`);
  return value;
}

/** A 32-byte key given as 64 hex digits in a setting. */
export function keyFromHex(hex: string, setting: string): Buffer {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new ConfigError(`${setting} must be 64 hexadecimal digits`);
  return Buffer.from(hex, 'hex');
}
