/**
 * Fingerprints and the stored position format of the file source.
 *
 * Key:   `<sourceId>:<fp>` where `fp` is the first 16 hex digits (64 bits) of the SHA-256 of the
 *        file's first `L` bytes. `L` is normally `fingerprint_bytes` (256); it is the whole file
 *        while the file is shorter, and longer when two live files share their first 256 bytes
 *        (see `index.ts`, "Identity").
 * Value: version byte 1, offset (6 bytes LE: up to 256 TiB), L (4 bytes LE), the length T (2 bytes
 *        LE, at most 1024) and CRC-32 (4 bytes LE) of the T file bytes just before the offset, then the
 *        path the file had (UTF-8; for diagnostics and for breaking ties after a restart).
 *
 * The tail check: a file whose fingerprint matches a stored position resumes there only if its
 * bytes just before the offset are the ones that were read. A different file that merely starts
 * with the same bytes (a new file with the same long header, after a rotation) is read as new.
 * `Tail` is the tail check in memory (`identity.ts` applies it).
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { PositionDecodeError } from './errors';

const VERSION = 1;
const HEADER = 1 + 6 + 4 + 2 + 4;
/** A stored position's bytes besides its path. */
export const POSITION_HEADER_BYTES = HEADER;
/** File bytes before the offset covered by the tail check (several lines, so repetitive content does not fool it). */
export const TAIL_CHECK_BYTES = 1024;

export interface StoredPosition {
  /** Offset just after the last byte whose line is durable. */
  readonly offset: number;
  /** How many first bytes the fingerprint covers. */
  readonly fpLen: number;
  /** How many file bytes just before `offset` `tailCrc` covers (0 at offset 0). */
  readonly tailLen: number;
  readonly tailCrc: number;
  readonly path: string;
}

export function encodePosition(p: StoredPosition): Buffer {
  const pathLen = Buffer.byteLength(p.path);
  const b = Buffer.allocUnsafe(HEADER + pathLen);
  b[0] = VERSION;
  b.writeUIntLE(p.offset, 1, 6);
  b.writeUInt32LE(p.fpLen, 7);
  b.writeUInt16LE(p.tailLen, 11);
  b.writeUInt32LE(p.tailCrc, 13);
  b.write(p.path, HEADER, 'utf8');
  return b;
}

export function decodePosition(key: string, value: Uint8Array): StoredPosition {
  const b = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (b.length < HEADER) throw new PositionDecodeError(key, `${b.length} bytes is too short`);
  if (b[0] !== VERSION) throw new PositionDecodeError(key, `unknown format version ${b[0] ?? '?'}`);
  const fpLen = b.readUInt32LE(7);
  if (fpLen === 0) throw new PositionDecodeError(key, 'fingerprint length 0');
  const offset = b.readUIntLE(1, 6);
  const tailLen = b.readUInt16LE(11);
  if (tailLen > offset || tailLen > TAIL_CHECK_BYTES) throw new PositionDecodeError(key, `tail length ${tailLen} out of range`);
  return { offset, fpLen, tailLen, tailCrc: b.readUInt32LE(13), path: b.toString('utf8', HEADER) };
}

/** The fingerprint of `bytes` (the file's first L bytes). */
export function fingerprint(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

/** The CRC-32 of the tail-check bytes. */
export function tailChecksum(bytes: Uint8Array): number {
  return crc32(bytes);
}

/**
 * The tail check in memory: CRC-32 of the `len` file bytes just before an offset, and those
 * bytes themselves while we have them (not for a position loaded from the queue until the file is
 * found and the bytes read back).
 */
export interface Tail {
  readonly len: number;
  readonly crc: number;
  readonly bytes: Buffer | null;
}
export const NO_TAIL: Tail = { len: 0, crc: 0, bytes: Buffer.alloc(0) };

/** The tail of `bytes` (copied: the input may be a reused buffer). */
export function tailOf(bytes: Buffer): Tail {
  const t = Buffer.from(bytes.subarray(Math.max(0, bytes.length - TAIL_CHECK_BYTES)));
  return { len: t.length, crc: tailChecksum(t), bytes: t };
}

/** The tail after `more` bytes that follow the ones `prev` describes. */
export function extendTail(prev: Tail, more: Buffer): Tail {
  if (more.length >= TAIL_CHECK_BYTES || prev.bytes === null || prev.bytes.length === 0) return tailOf(more);
  const keep = Math.min(prev.bytes.length, TAIL_CHECK_BYTES - more.length);
  return tailOf(Buffer.concat([prev.bytes.subarray(prev.bytes.length - keep), more]));
}
