/** What a node says about itself in CER/CEA, and what it learned about the peer. */
import { randomInt } from 'node:crypto';
import { avp, findAvp, findAvps, type Avp } from './avp.js';
import { APP_RELAY, VENDOR_3GPP, VENDOR_KEYSWITCH } from './constants.js';

export interface ApplicationSupport {
  authApplicationId: number;
  /** Set for a vendor application (Cx: 10415): advertised in Vendor-Specific-Application-Id. */
  vendorId?: number;
}

export interface LocalIdentity {
  originHost: string;
  originRealm: string;
  /** Defaults to the socket's local address. */
  hostIpAddresses?: string[];
  vendorId?: number;
  productName?: string;
  firmwareRevision?: number;
  originStateId?: number;
  applications: ApplicationSupport[];
}

export interface RemoteIdentity {
  originHost: string;
  originRealm: string;
  productName?: string;
  applications: Set<number>;
}

const bootStateId = Math.floor(Date.now() / 1000) >>> 0;

export function capabilityAvps(local: LocalIdentity, socketAddress: string | undefined): Avp[] {
  const ips = local.hostIpAddresses?.length ? local.hostIpAddresses : [plainAddress(socketAddress) ?? '127.0.0.1'];
  const out: Avp[] = [avp('Origin-Host', local.originHost), avp('Origin-Realm', local.originRealm)];
  for (const ip of ips) out.push(avp('Host-IP-Address', ip));
  out.push(
    avp('Vendor-Id', local.vendorId ?? VENDOR_KEYSWITCH),
    avp('Product-Name', local.productName ?? 'keyswitch'),
    avp('Origin-State-Id', local.originStateId ?? bootStateId),
  );
  const vendors = new Set(local.applications.flatMap((a) => (a.vendorId ? [a.vendorId] : [])));
  vendors.add(VENDOR_KEYSWITCH);
  for (const v of vendors) out.push(avp('Supported-Vendor-Id', v));
  for (const a of local.applications) {
    if (a.vendorId) {
      out.push(avp('Vendor-Specific-Application-Id', [avp('Vendor-Id', a.vendorId), avp('Auth-Application-Id', a.authApplicationId)]));
    } else out.push(avp('Auth-Application-Id', a.authApplicationId));
  }
  if (local.firmwareRevision !== undefined) out.push(avp('Firmware-Revision', local.firmwareRevision));
  return out;
}

/** The peer's identity and the application ids it offered (plain and vendor-specific). */
export function remoteFrom(avps: readonly Avp[]): RemoteIdentity | undefined {
  const originHost = findAvp(avps, 264)?.value;
  const originRealm = findAvp(avps, 296)?.value;
  if (typeof originHost !== 'string' || typeof originRealm !== 'string') return undefined;
  const applications = new Set<number>();
  for (const a of [...findAvps(avps, 258), ...findAvps(avps, 259)]) if (typeof a.value === 'number') applications.add(a.value);
  for (const g of findAvps(avps, 260)) {
    if (!Array.isArray(g.value)) continue;
    for (const inner of g.value) {
      if ((inner.code === 258 || inner.code === 259) && inner.vendorId === 0 && typeof inner.value === 'number') applications.add(inner.value);
    }
  }
  const productName = findAvp(avps, 269)?.value;
  return { originHost, originRealm, applications, ...(typeof productName === 'string' ? { productName } : {}) };
}

export function hasCommonApplication(local: LocalIdentity, remote: RemoteIdentity): boolean {
  if (local.applications.length === 0 || remote.applications.has(APP_RELAY)) return true;
  return local.applications.some((a) => remote.applications.has(a.authApplicationId));
}

/** An IPv4-mapped IPv6 address as plain IPv4; others unchanged. */
export function plainAddress(addr: string | undefined): string | undefined {
  if (!addr) return undefined;
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}

/** RFC 6733 §3: the high 12 bits from the boot time, the low 20 random, then counting. */
let endToEnd = (((Date.now() / 1000) & 0xfff) << 20) | randomInt(0x100000);
export function nextEndToEnd(): number {
  endToEnd = (endToEnd + 1) >>> 0;
  return endToEnd;
}

export const CX_APPLICATION: ApplicationSupport = { authApplicationId: 16777216, vendorId: VENDOR_3GPP };
