/** RFC 3261 §19.1.2: the port a SIP URI or Via without one means. The one place these numbers are written. */
export const SIP_PORT = 5060;
export const SIPS_PORT = 5061;

/** The default port for a transport (or a `sips:` / `transport=tls` target). */
export function defaultPort(protocol: string | undefined): number {
  return protocol !== undefined && protocol.toLowerCase() === 'tls' ? SIPS_PORT : SIP_PORT;
}

/** The port a Via's sent-by names (RFC 3261 §18.2.2): where its sender listens over a stream. */
export function sentByPort(via: { port?: number | undefined; transport: string }): number {
  return via.port ?? defaultPort(via.transport);
}
