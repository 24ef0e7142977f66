import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * The voicemail package: one file per message, readable by the media server
 * and by a browser with WebCrypto alone (docs/voicemail.md, "Package format").
 *
 *   offset 0   4 bytes   magic "KSVM"
 *   offset 4   1 byte    format version (1)
 *   offset 5   4 bytes   header length H, unsigned big-endian
 *   offset 9   H bytes   header: UTF-8 JSON (PackageHeader)
 *   offset 9+H           AES-256-GCM ciphertext of the raw G.711 payload, 16-byte tag appended
 *
 * The IV (96 bits) is in the header; the associated data is every byte before
 * the ciphertext (magic, version, length, header), so no header field can be
 * changed without the decryption failing. WebCrypto's AES-GCM takes exactly
 * this: { name: 'AES-GCM', iv, additionalData: bytes[0, 9+H), tagLength: 128 }
 * over bytes[9+H, end).
 */

export const PACKAGE_MAGIC = Buffer.from('KSVM', 'ascii');
export const PACKAGE_VERSION = 1;
const PREFIX = 9;
/** A header longer than this is not one of ours: refused before JSON.parse. */
export const MAX_HEADER_BYTES = 16 * 1024;

export type G711Codec = 'PCMU' | 'PCMA';

export interface PackageHeader {
  /** Always 1 for this format. */
  v: 1;
  /** The message id: 32 lower-case hex digits, also the file name and the SIP retrieval user part. */
  messageId: string;
  /** The content key's id: 32 lower-case hex digits; the licence server hands the key out by this id. */
  keyId: string;
  /** Always 'A256GCM'. */
  alg: 'A256GCM';
  /** The 96-bit GCM IV, unpadded base64url. */
  iv: string;
  /** G.711 law of the payload; 8000 samples/s, one byte per sample. */
  codec: G711Codec;
  sampleRate: 8000;
  /** Recipient (address of record without scheme, e.g. bob@lab.example). */
  to: string;
  /** Caller as the From header gave it (a display string, not an authenticated identity). */
  from: string;
  /** When recording ended, ISO 8601 UTC. */
  createdAt: string;
  /** Length of the audio in milliseconds (payload bytes / 8). */
  durationMs: number;
  /** Rights the caller chose (or the defaults); the licence server enforces them, this copy is for display. */
  rights: PackageRights;
}

export interface PackageRights {
  /** May the recipient forward (delegate) the message. */
  mayForward: boolean;
  /** Plays allowed; 0 means no limit. */
  maxPlays: number;
  /** Days after createdAt the message expires; 0 means never. */
  expiresDays: number;
}

export interface SealedPackage {
  header: PackageHeader;
  bytes: Buffer;
}

const HEX32 = /^[0-9a-f]{32}$/;

export function newMessageId(): string {
  return randomBytes(16).toString('hex');
}

export function isMessageId(s: string): boolean {
  return HEX32.test(s);
}

/**
 * Encrypts one message under a fresh content key. The caller gets the key
 * back to deposit with the licence server; it is never written anywhere.
 */
export function sealPackage(
  audio: Buffer,
  meta: Omit<PackageHeader, 'v' | 'keyId' | 'alg' | 'iv' | 'sampleRate' | 'durationMs'>,
): { pkg: SealedPackage; contentKey: Buffer } {
  const contentKey = randomBytes(32);
  const iv = randomBytes(12);
  const header: PackageHeader = {
    v: 1,
    messageId: meta.messageId,
    keyId: randomBytes(16).toString('hex'),
    alg: 'A256GCM',
    iv: iv.toString('base64url'),
    codec: meta.codec,
    sampleRate: 8000,
    to: meta.to,
    from: meta.from,
    createdAt: meta.createdAt,
    durationMs: Math.floor(audio.length / 8),
    rights: { ...meta.rights },
  };
  const prefix = encodePrefix(header);
  const cipher = createCipheriv('aes-256-gcm', contentKey, iv);
  cipher.setAAD(prefix);
  const bytes = Buffer.concat([prefix, cipher.update(audio), cipher.final(), cipher.getAuthTag()]);
  return { pkg: { header, bytes }, contentKey };
}

function encodePrefix(header: PackageHeader): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(PREFIX + json.length);
  PACKAGE_MAGIC.copy(prefix, 0);
  prefix[4] = PACKAGE_VERSION;
  prefix.writeUInt32BE(json.length, 5);
  json.copy(prefix, PREFIX);
  return prefix;
}

export class PackageError extends Error {}

/** Reads the header without the key (listing, streaming). Throws PackageError on anything not a v1 package. */
export function readPackageHeader(bytes: Buffer): { header: PackageHeader; headerEnd: number } {
  if (bytes.length < PREFIX) throw new PackageError('package is truncated');
  if (!bytes.subarray(0, 4).equals(PACKAGE_MAGIC)) throw new PackageError('not a voicemail package (magic)');
  if (bytes[4] !== PACKAGE_VERSION) throw new PackageError(`package version ${bytes[4]} is not supported`);
  const len = bytes.readUInt32BE(5);
  if (len > MAX_HEADER_BYTES || PREFIX + len + 16 > bytes.length) throw new PackageError('package header length is invalid');
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.subarray(PREFIX, PREFIX + len).toString('utf8'));
  } catch {
    throw new PackageError('package header is not JSON');
  }
  return { header: checkHeader(raw), headerEnd: PREFIX + len };
}

function checkHeader(raw: unknown): PackageHeader {
  const h = raw as Partial<PackageHeader> | null;
  const bad = (what: string): never => {
    throw new PackageError(`package header: ${what}`);
  };
  if (typeof h !== 'object' || h === null) return bad('not an object');
  if (h.v !== 1) bad('v');
  if (typeof h.messageId !== 'string' || !HEX32.test(h.messageId)) bad('messageId');
  if (typeof h.keyId !== 'string' || !HEX32.test(h.keyId)) bad('keyId');
  if (h.alg !== 'A256GCM') bad('alg');
  if (typeof h.iv !== 'string' || Buffer.from(h.iv, 'base64url').length !== 12) bad('iv');
  if (h.codec !== 'PCMU' && h.codec !== 'PCMA') bad('codec');
  if (h.sampleRate !== 8000) bad('sampleRate');
  if (typeof h.to !== 'string' || typeof h.from !== 'string' || typeof h.createdAt !== 'string') bad('to/from/createdAt');
  if (!Number.isSafeInteger(h.durationMs) || (h.durationMs as number) < 0) bad('durationMs');
  const r = h.rights;
  if (
    typeof r !== 'object' || r === null || typeof r.mayForward !== 'boolean' ||
    !Number.isSafeInteger(r.maxPlays) || r.maxPlays < 0 || !Number.isSafeInteger(r.expiresDays) || r.expiresDays < 0
  ) bad('rights');
  return h as PackageHeader;
}

/** Decrypts a package with its content key; throws PackageError when the key is wrong or a byte was changed. */
export function openPackage(bytes: Buffer, contentKey: Buffer): { header: PackageHeader; audio: Buffer } {
  const { header, headerEnd } = readPackageHeader(bytes);
  if (contentKey.length !== 32) throw new PackageError('content key must be 32 bytes');
  const decipher = createDecipheriv('aes-256-gcm', contentKey, Buffer.from(header.iv, 'base64url'));
  decipher.setAAD(bytes.subarray(0, headerEnd));
  decipher.setAuthTag(bytes.subarray(bytes.length - 16));
  try {
    const audio = Buffer.concat([decipher.update(bytes.subarray(headerEnd, bytes.length - 16)), decipher.final()]);
    return { header, audio };
  } catch {
    throw new PackageError('package does not open with this key (wrong key or altered bytes)');
  }
}
