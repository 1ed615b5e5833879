/**
 * Fingerprints and the stored position format of the file source.
 *
 * Key:   `<sourceId>:<fp>` where `fp` is the first 16 hex digits (64 bits) of the SHA-256 of the
 *        file's first `L` bytes. `L` is normally `fingerprint_bytes` (256); it is the whole file
 *        while the file is shorter, and longer when two live files share their first 256 bytes
 *        (see `source.ts`, "Identity").
 * Value: version byte 1, offset (6 bytes LE: up to 256 TiB), L (4 bytes LE), then the path the
 *        file had (UTF-8; a hint for diagnostics and for breaking ties after a restart).
 */
import { createHash } from 'node:crypto';
import { PositionDecodeError } from './errors';

const VERSION = 1;
const HEADER = 1 + 6 + 4;

export interface StoredPosition {
  /** Offset just after the last byte whose line is durable. */
  readonly offset: number;
  /** How many first bytes the fingerprint covers. */
  readonly fpLen: number;
  readonly path: string;
}

export function encodePosition(p: StoredPosition): Buffer {
  const pathLen = Buffer.byteLength(p.path);
  const b = Buffer.allocUnsafe(HEADER + pathLen);
  b[0] = VERSION;
  b.writeUIntLE(p.offset, 1, 6);
  b.writeUInt32LE(p.fpLen, 7);
  b.write(p.path, HEADER, 'utf8');
  return b;
}

export function decodePosition(key: string, value: Uint8Array): StoredPosition {
  const b = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (b.length < HEADER) throw new PositionDecodeError(key, `${b.length} bytes is too short`);
  if (b[0] !== VERSION) throw new PositionDecodeError(key, `unknown format version ${b[0] ?? '?'}`);
  const fpLen = b.readUInt32LE(7);
  if (fpLen === 0) throw new PositionDecodeError(key, 'fingerprint length 0');
  return { offset: b.readUIntLE(1, 6), fpLen, path: b.toString('utf8', HEADER) };
}

/** The fingerprint of `bytes` (the file's first L bytes). */
export function fingerprint(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}
