/**
 * MD5 in one call: RADIUS computes several per packet (authenticators, value
 * hiding), and `crypto.hash` (Node ≥ 20.12) costs about half of
 * createHash().update().digest() on these short inputs. Older Node falls back.
 */
import * as crypto from 'node:crypto';

type OneShot = (algorithm: string, data: Buffer, outputEncoding: 'buffer') => Buffer;
const oneShot = (crypto as unknown as { hash?: OneShot }).hash;

export const md5Of: (data: Buffer) => Buffer = oneShot ? (data) => oneShot('md5', data, 'buffer') : (data) => crypto.createHash('md5').update(data).digest();
