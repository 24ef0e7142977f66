/**
 * SDP (RFC 4566 / RFC 8866) codec: the lines a voice call offers and answers,
 * plus the DRM attribute of the secure voicemail (docs/voicemail.md). Knows
 * nothing of SIP or of any role. `parseSdp` never throws: hostile bodies get
 * an error naming the line.
 */

export interface SdpConnection {
  netType: string;
  addrType: 'IP4' | 'IP6' | string;
  address: string;
}

export interface SdpAttribute {
  name: string;
  /** null for a property attribute (`a=sendrecv`). */
  value: string | null;
}

export interface SdpMedia {
  media: string;
  port: number;
  proto: string;
  formats: string[];
  connection?: SdpConnection;
  attributes: SdpAttribute[];
  /** Other lines of the section (i=, b=, k=), kept as `x=value`. */
  other: string[];
}

export interface SdpOrigin {
  username: string;
  sessId: string;
  sessVersion: string;
  netType: string;
  addrType: string;
  address: string;
}

export interface Sdp {
  origin: SdpOrigin;
  sessionName: string;
  connection?: SdpConnection;
  /** t= lines as written (`0 0`). */
  times: string[];
  attributes: SdpAttribute[];
  /** Other session-level lines (i=, u=, e=, p=, b=, r=, z=, k=), kept as `x=value`. */
  other: string[];
  media: SdpMedia[];
}

export type SdpResult = { ok: true; sdp: Sdp } | { ok: false; error: string };

export const SDP_LIMITS = { maxBytes: 16 * 1024, maxLines: 256, maxMedia: 16 };

const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$/;
const PORT = /^([0-9]{1,5})(?:\/([0-9]{1,5}))?$/;

function parseConnection(v: string): SdpConnection | string {
  const p = v.split(' ');
  if (p.length !== 3 || !p.every((x) => x.length > 0)) return 'c= needs <nettype> <addrtype> <address>';
  return { netType: p[0]!, addrType: p[1]!, address: p[2]! };
}

/** Parses an SDP body. Line ends CRLF or LF; a line that is not `x=value` is an error. */
export function parseSdp(body: Buffer | string): SdpResult {
  const len = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  if (len === 0) return { ok: false, error: 'empty SDP' };
  if (len > SDP_LIMITS.maxBytes) return { ok: false, error: `SDP larger than ${SDP_LIMITS.maxBytes} bytes` };
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length > SDP_LIMITS.maxLines) return { ok: false, error: `SDP has more than ${SDP_LIMITS.maxLines} lines` };
  let origin: SdpOrigin | undefined;
  let sessionName: string | undefined;
  let sawVersion = false;
  const sdp: Omit<Sdp, 'origin' | 'sessionName'> = { times: [], attributes: [], other: [], media: [] };
  let cur: SdpMedia | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const at = `line ${i + 1}`;
    if (line.length < 2 || line[1] !== '=' || !/^[a-z]$/.test(line[0]!)) return { ok: false, error: `${at}: not a <type>=<value> line` };
    if (/[\0\r]/.test(line)) return { ok: false, error: `${at}: control character` };
    const type = line[0]!;
    const v = line.slice(2);
    if (i === 0 && type !== 'v') return { ok: false, error: 'line 1: SDP must start with v=' };
    switch (type) {
      case 'v':
        if (i !== 0 || v !== '0') return { ok: false, error: `${at}: v= must be the first line and 0` };
        sawVersion = true;
        break;
      case 'o': {
        if (origin || cur) return { ok: false, error: `${at}: o= out of place` };
        const p = v.split(' ');
        if (p.length !== 6 || !p.every((x) => x.length > 0)) return { ok: false, error: `${at}: o= needs 6 fields` };
        origin = { username: p[0]!, sessId: p[1]!, sessVersion: p[2]!, netType: p[3]!, addrType: p[4]!, address: p[5]! };
        break;
      }
      case 's':
        if (sessionName !== undefined || cur) return { ok: false, error: `${at}: s= out of place` };
        sessionName = v;
        break;
      case 't':
        if (cur) return { ok: false, error: `${at}: t= inside a media section` };
        if (!/^[0-9]+ [0-9]+$/.test(v)) return { ok: false, error: `${at}: t= needs <start> <stop>` };
        sdp.times.push(v);
        break;
      case 'c': {
        const c = parseConnection(v);
        if (typeof c === 'string') return { ok: false, error: `${at}: ${c}` };
        if (cur) {
          if (cur.connection) return { ok: false, error: `${at}: second c= in a media section` };
          cur.connection = c;
        } else {
          if (sdp.connection) return { ok: false, error: `${at}: second session c=` };
          sdp.connection = c;
        }
        break;
      }
      case 'm': {
        if (sdp.media.length >= SDP_LIMITS.maxMedia) return { ok: false, error: `${at}: more than ${SDP_LIMITS.maxMedia} media sections` };
        const p = v.split(' ');
        if (p.length < 4 || !p.every((x) => x.length > 0)) return { ok: false, error: `${at}: m= needs <media> <port> <proto> <fmt>...` };
        const pm = PORT.exec(p[1]!);
        if (!pm || Number(pm[1]) > 65535 || !TOKEN.test(p[0]!)) return { ok: false, error: `${at}: m= port or media invalid` };
        cur = { media: p[0]!, port: Number(pm[1]), proto: p[2]!, formats: p.slice(3), attributes: [], other: [] };
        sdp.media.push(cur);
        break;
      }
      case 'a': {
        const colon = v.indexOf(':');
        const name = colon < 0 ? v : v.slice(0, colon);
        if (!TOKEN.test(name)) return { ok: false, error: `${at}: attribute name invalid` };
        const attr: SdpAttribute = { name, value: colon < 0 ? null : v.slice(colon + 1) };
        (cur ? cur.attributes : sdp.attributes).push(attr);
        break;
      }
      default:
        (cur ? cur.other : sdp.other).push(line);
    }
  }
  if (!sawVersion) return { ok: false, error: 'no v= line' };
  if (!origin) return { ok: false, error: 'no o= line' };
  if (sessionName === undefined) return { ok: false, error: 'no s= line' };
  if (sdp.times.length === 0) return { ok: false, error: 'no t= line' };
  for (const m of sdp.media) if (!m.connection && !sdp.connection && m.port !== 0) return { ok: false, error: `m=${m.media}: no c= line for it or the session` };
  return { ok: true, sdp: { origin, sessionName, ...sdp } };
}

function attrLines(list: SdpAttribute[]): string[] {
  return list.map((a) => (a.value === null ? `a=${a.name}` : `a=${a.name}:${a.value}`));
}

/** Writes SDP with CRLF line ends, in RFC 4566 order. */
export function serializeSdp(s: Sdp): string {
  const o = s.origin;
  const conn = (c: SdpConnection) => `c=${c.netType} ${c.addrType} ${c.address}`;
  const session = s.other.filter((l) => /^[iuepb]=/.test(l));
  const timing = s.other.filter((l) => /^[rz]=/.test(l));
  const keyLines = s.other.filter((l) => /^k=/.test(l));
  const out = [
    'v=0',
    `o=${o.username} ${o.sessId} ${o.sessVersion} ${o.netType} ${o.addrType} ${o.address}`,
    `s=${s.sessionName}`,
    ...session.filter((l) => l[0] !== 'b'),
    ...(s.connection ? [conn(s.connection)] : []),
    ...session.filter((l) => l[0] === 'b'),
    ...s.times.map((t) => `t=${t}`),
    ...timing,
    ...keyLines,
    ...attrLines(s.attributes),
  ];
  for (const m of s.media) {
    out.push(`m=${m.media} ${m.port} ${m.proto} ${m.formats.join(' ')}`);
    out.push(...m.other.filter((l) => l[0] === 'i'));
    if (m.connection) out.push(conn(m.connection));
    out.push(...m.other.filter((l) => l[0] !== 'i'));
    out.push(...attrLines(m.attributes));
  }
  return out.join('\r\n') + '\r\n';
}

/** Values of attribute `name` in a media section, falling back to the session level when the section has none. */
export function attributeValues(sdp: Sdp, m: SdpMedia | undefined, name: string): string[] {
  const key = name.toLowerCase();
  const pick = (l: SdpAttribute[]) => l.filter((a) => a.name.toLowerCase() === key).map((a) => a.value ?? '');
  const own = m ? pick(m.attributes) : [];
  return own.length > 0 ? own : pick(sdp.attributes);
}

/** Payload type → `encoding/clock[/channels]` from a=rtpmap, with the RFC 3551 static ones PCMU (0) and PCMA (8). */
export function rtpMap(sdp: Sdp, m: SdpMedia): Map<string, { encoding: string; clock: number }> {
  const out = new Map<string, { encoding: string; clock: number }>();
  if (m.formats.includes('0')) out.set('0', { encoding: 'PCMU', clock: 8000 });
  if (m.formats.includes('8')) out.set('8', { encoding: 'PCMA', clock: 8000 });
  for (const v of attributeValues(sdp, m, 'rtpmap')) {
    const r = /^([0-9]{1,3}) ([^/\s]+)\/([0-9]+)(?:\/[0-9]+)?$/.exec(v.trim());
    if (r && m.formats.includes(r[1]!)) out.set(r[1]!, { encoding: r[2]!, clock: Number(r[3]) });
  }
  return out;
}

/** The address RTP for this section goes to: its own c= or the session's. */
export function mediaAddress(sdp: Sdp, m: SdpMedia): string | undefined {
  return (m.connection ?? sdp.connection)?.address;
}

// ---- DRM attribute (docs/voicemail.md, "The DRM attribute") ----------------------------

/** `a=drm:<type> <address> <port> <transport>`; `a=drm:0 0 0 0` = none in common. */
export interface DrmAttribute {
  type: string;
  address: string;
  port: number;
  transport: string;
}

export const NO_DRM: DrmAttribute = { type: '0', address: '0', port: 0, transport: '0' };

export function parseDrm(value: string): DrmAttribute | undefined {
  const p = value.trim().split(/\s+/);
  if (p.length !== 4) return undefined;
  const [type, address, port, transport] = p as [string, string, string, string];
  if (!TOKEN.test(type) || !/^[0-9]{1,5}$/.test(port) || Number(port) > 65535) return undefined;
  if (!/^[A-Za-z0-9.:\-[\]]+$/.test(address) || !/^[A-Za-z0-9/._-]+$/.test(transport)) return undefined;
  return { type, address, port: Number(port), transport };
}

export function formatDrm(d: DrmAttribute): string {
  return `${d.type} ${d.address} ${d.port} ${d.transport}`;
}

/** Every a=drm of the offer (media level, else session level) that parses; `bad` counts those that did not. */
export function drmOffers(sdp: Sdp, m: SdpMedia | undefined): { offers: DrmAttribute[]; bad: number } {
  const offers: DrmAttribute[] = [];
  let bad = 0;
  for (const v of attributeValues(sdp, m, 'drm')) {
    const d = parseDrm(v);
    if (d) offers.push(d);
    else bad++;
  }
  return { offers, bad };
}
