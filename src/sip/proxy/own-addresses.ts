/**
 * The addresses that are this proxy (its transports, advertised names, pool aliases): what
 * own-Route popping, strict-router repair, loop detection and stray-response checks compare with.
 */
import { isSipUri, type Uri } from '../headers/uri.js';
import type { Via } from '../headers/via.js';
import type { SipTransport } from '../transport/types.js';
import { defaultPort } from './ports.js';

/** `host:port`, host lower-cased, the port defaulted by protocol. */
export function hostPortKey(host: string, port: number | undefined, protocol = 'udp'): string {
  return `${host.toLowerCase()}:${port ?? defaultPort(protocol)}`;
}

export class OwnAddresses {
  readonly #keys = new Set<string>();
  readonly #hosts = new Set<string>();

  /** `host:port` or host and port. */
  add(host: string, port?: number): this {
    const key = port === undefined ? host.toLowerCase() : hostPortKey(host, port);
    this.#keys.add(key);
    this.#hosts.add(key.replace(/:[0-9]+$/, ''));
    return this;
  }

  /** Every host given (names and addresses) on every transport's port. */
  addTransports(transports: readonly SipTransport[], extraHosts: readonly string[] = []): this {
    const hosts = new Set([...transports.map((t) => t.host), ...extraHosts].map((h) => h.toLowerCase()));
    for (const h of hosts) for (const t of transports) this.add(h, t.port);
    return this;
  }

  has(host: string, port: number | undefined, protocol = 'udp'): boolean {
    return this.#keys.has(hostPortKey(host, port, protocol));
  }

  /** A host we answer to on some port (a URI naming it without user stands for us). */
  hasHost(host: string): boolean {
    return this.#hosts.has(host.toLowerCase());
  }

  uri(u: Uri): boolean {
    if (!isSipUri(u)) return false;
    const tls = u.scheme === 'sips' || u.params.transport?.toLowerCase() === 'tls';
    return this.has(u.host, u.port, tls ? 'tls' : 'udp');
  }

  via(v: Via): boolean {
    return this.has(v.host, v.port, v.transport.toLowerCase());
  }
}
