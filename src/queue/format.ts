/**
 * The queue's on-disk format: frame header, positions block, cursor file, file names, and the
 * frame scanner shared by recovery and by consumers. The layout tables are in `./queue.ts`'s header.
 */
import { crc32 } from 'node:zlib';
import type { FileHandle, FileSystem } from '../core/ports';
import type { SourcePosition } from './types';

/** Frame magic, bytes F1 53 4C 51 ("\xF1SLQ"): the non-ASCII first byte keeps it out of text logs. */
export const FRAME_MAGIC = 0x514c53f1;
export const FRAME_MAGIC_BYTES = Buffer.from([0xf1, 0x53, 0x4c, 0x51]);
export const FRAME_HEADER = 32;
export const FRAME_VERSION = 1;
/** Largest frame the format accepts (u32 length; Buffer limits make anything near 2 GiB moot). */
export const FRAME_MAX = 0x7fff_0000;

export const CURSOR_MAGIC = 0x434c53f1; // F1 53 4C 43 "\xF1SLC"
/** Size of a version 1 cursor file (one copy, replaced by rename). */
export const CURSOR_BYTES = 24;
/** A version 2 cursor file: two slots, each in its own 512-byte sector, overwritten in place. */
export const CURSOR_SLOT = 512;
export const CURSOR_FILE_BYTES = 2 * CURSOR_SLOT;
const CURSOR_SLOT_USED = 32;

export type FrameKind = 'data' | 'snapshot';
const KIND_DATA = 1;
const KIND_SNAPSHOT = 2;

export const kindCode = (k: FrameKind): number => {
  switch (k) {
    case 'data':
      return KIND_DATA;
    case 'snapshot':
      return KIND_SNAPSHOT;
  }
};

/** Writes a frame header at `at` in `buf`; the CRC covers header bytes 8..32, the payload, then meta. */
export function writeFrameHeader(
  buf: Buffer,
  at: number,
  kind: FrameKind,
  id: number,
  events: number,
  payload: Uint8Array,
  meta: Uint8Array | null,
): number {
  const metaLen = meta === null ? 0 : meta.length;
  const len = FRAME_HEADER + payload.length + metaLen;
  buf.writeUInt32LE(FRAME_MAGIC, at);
  buf.writeUInt32LE(len, at + 8);
  buf[at + 12] = kindCode(kind);
  buf[at + 13] = FRAME_VERSION;
  buf[at + 14] = 0;
  buf[at + 15] = 0;
  buf.writeUInt32LE(id % 0x1_0000_0000, at + 16);
  buf.writeUInt32LE(Math.floor(id / 0x1_0000_0000), at + 20);
  buf.writeUInt32LE(events, at + 24);
  buf.writeUInt32LE(metaLen, at + 28);
  let c = crc32(buf.subarray(at + 8, at + FRAME_HEADER));
  if (payload.length > 0) c = crc32(payload, c);
  if (meta !== null && metaLen > 0) c = crc32(meta, c);
  buf.writeUInt32LE(c >>> 0, at + 4);
  return len;
}

/** A whole encoded frame in one buffer (used for snapshots and tests). */
export function encodeFrame(kind: FrameKind, id: number, events: number, payload: Uint8Array, meta: Uint8Array | null): Buffer {
  const hdr = Buffer.allocUnsafe(FRAME_HEADER);
  writeFrameHeader(hdr, 0, kind, id, events, payload, meta);
  return Buffer.concat(meta === null ? [hdr, payload] : [hdr, payload, meta]);
}

// ---- positions block ------------------------------------------------------------------------
// u32 count, then per entry: u16 keyLen, key (UTF-8), u32 valueLen (0xFFFFFFFF = null: forget), value.

const NULL_VALUE = 0xffff_ffff;

export function encodePositions(positions: Iterable<SourcePosition>): Buffer {
  const keys: Buffer[] = [];
  const values: (Uint8Array | null)[] = [];
  let size = 4;
  for (const p of positions) {
    const k = Buffer.from(p.key, 'utf8');
    if (k.length > 0xffff) throw new RangeError(`position key longer than 65535 bytes: ${p.key.slice(0, 40)}…`);
    keys.push(k);
    values.push(p.value);
    size += 2 + k.length + 4 + (p.value === null ? 0 : p.value.length);
  }
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32LE(keys.length, 0);
  let at = 4;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as Buffer;
    const v = values[i] ?? null;
    out.writeUInt16LE(k.length, at);
    at += 2;
    k.copy(out, at);
    at += k.length;
    if (v === null) {
      out.writeUInt32LE(NULL_VALUE, at);
      at += 4;
    } else {
      out.writeUInt32LE(v.length, at);
      at += 4;
      out.set(v, at);
      at += v.length;
    }
  }
  return out;
}

/** Applies a positions block to `into` (a null value deletes the key). Returns false if malformed. */
export function applyPositions(meta: Buffer, into: Map<string, Uint8Array>): boolean {
  if (meta.length < 4) return false;
  const n = meta.readUInt32LE(0);
  let at = 4;
  const staged: [string, Uint8Array | null][] = [];
  for (let i = 0; i < n; i++) {
    if (at + 2 > meta.length) return false;
    const kl = meta.readUInt16LE(at);
    at += 2;
    if (at + kl + 4 > meta.length) return false;
    const key = meta.toString('utf8', at, at + kl);
    at += kl;
    const vl = meta.readUInt32LE(at);
    at += 4;
    if (vl === NULL_VALUE) {
      staged.push([key, null]);
    } else {
      if (at + vl > meta.length) return false;
      staged.push([key, Uint8Array.prototype.slice.call(meta, at, at + vl)]);
      at += vl;
    }
  }
  if (at !== meta.length) return false;
  for (const [k, v] of staged) {
    if (v === null) into.delete(k);
    else into.set(k, v);
  }
  return true;
}

export function snapshotPositions(map: ReadonlyMap<string, Uint8Array>): Buffer {
  const list: SourcePosition[] = [];
  for (const [key, value] of map) list.push({ key, value });
  return encodePositions(list);
}

// ---- cursor file ----------------------------------------------------------------------------
// 0 u32 magic | 4 u32 crc32 of bytes 8..24 | 8 u64 id | 16 u32 version | 20 u32 reserved

export function encodeCursor(id: number): Buffer {
  const b = Buffer.alloc(CURSOR_BYTES);
  b.writeUInt32LE(CURSOR_MAGIC, 0);
  b.writeUInt32LE(id % 0x1_0000_0000, 8);
  b.writeUInt32LE(Math.floor(id / 0x1_0000_0000), 12);
  b.writeUInt32LE(1, 16);
  b.writeUInt32LE(crc32(b.subarray(8)) >>> 0, 4);
  return b;
}

/** The id in a cursor file of either version (its bytes), or null if it holds no valid cursor. */
export function decodeCursor(b: Buffer): number | null {
  return decodeCursorFile(b)?.id ?? null;
}

/** The id in a version 1 cursor file, or null if the bytes are not a valid one. */
function decodeCursorV1(b: Buffer): number | null {
  if (b.length !== CURSOR_BYTES) return null;
  if (b.readUInt32LE(0) !== CURSOR_MAGIC) return null;
  if ((crc32(b.subarray(8)) >>> 0) !== b.readUInt32LE(4)) return null;
  if (b.readUInt32LE(16) !== 1) return null;
  const id = b.readUInt32LE(8) + b.readUInt32LE(12) * 0x1_0000_0000;
  return Number.isSafeInteger(id) ? id : null;
}

// version 2, two slots at 0 and 512, each (in a 512-byte sector, the rest zeros):
// 0 u32 magic | 4 u32 crc32 of bytes 8..32 | 8 u64 id | 16 u32 version (2) | 20 u32 slot | 24 u64 sequence
// A slot that carries a sink's checkpoint says version 3 and goes on:
// 32 u32 checkpoint length n | 36 n bytes of checkpoint; its crc32 covers bytes 8..36+n.
// The slot with the higher sequence (and a good checksum) is the cursor; a write goes to the other one.

/** Bytes of a sink checkpoint a cursor slot can hold. */
export const CURSOR_CHECKPOINT_MAX = CURSOR_SLOT - CURSOR_SLOT_USED - 4;

/**
 * Fills `b` (a slot image, `CURSOR_SLOT` bytes, reused by the caller) with slot `seq % 2` holding `id`
 * and `checkpoint`, to write at `cursorSlotOffset(seq)`. Returns `b`.
 */
export function fillCursorSlot(b: Buffer, id: number, seq: number, checkpoint: Uint8Array | null): Buffer {
  if (checkpoint !== null && checkpoint.length > CURSOR_CHECKPOINT_MAX) {
    throw new RangeError(`a sink checkpoint holds at most ${CURSOR_CHECKPOINT_MAX} bytes (got ${checkpoint.length})`);
  }
  b.fill(0, 0, CURSOR_SLOT);
  b.writeUInt32LE(CURSOR_MAGIC, 0);
  b.writeUInt32LE(id % 0x1_0000_0000, 8);
  b.writeUInt32LE(Math.floor(id / 0x1_0000_0000), 12);
  b.writeUInt32LE(checkpoint === null ? 2 : 3, 16);
  b.writeUInt32LE(seq % 2, 20);
  b.writeUInt32LE(seq % 0x1_0000_0000, 24);
  b.writeUInt32LE(Math.floor(seq / 0x1_0000_0000), 28);
  let end = CURSOR_SLOT_USED;
  if (checkpoint !== null) {
    b.writeUInt32LE(checkpoint.length, CURSOR_SLOT_USED);
    b.set(checkpoint, CURSOR_SLOT_USED + 4);
    end = CURSOR_SLOT_USED + 4 + checkpoint.length;
  }
  b.writeUInt32LE(crc32(b.subarray(8, end)) >>> 0, 4);
  return b;
}

/** The 512-byte image of slot `seq % 2` holding `id` (and a sink's `checkpoint`), to write at `cursorSlotOffset(seq)`. */
export function encodeCursorSlot(id: number, seq: number, checkpoint: Uint8Array | null = null): Buffer {
  return fillCursorSlot(Buffer.alloc(CURSOR_SLOT), id, seq, checkpoint);
}

export const cursorSlotOffset = (seq: number): number => (seq % 2) * CURSOR_SLOT;

/** A whole new version 2 cursor file holding `id` in slot `seq % 2` (the other slot zeros). */
export function encodeCursorFile(id: number, seq: number, checkpoint: Uint8Array | null = null): Buffer {
  const b = Buffer.alloc(CURSOR_FILE_BYTES);
  encodeCursorSlot(id, seq, checkpoint).copy(b, cursorSlotOffset(seq));
  return b;
}

type SlotRead = { readonly id: number; readonly seq: number; readonly checkpoint: Buffer | null } | 'empty' | 'damaged';

function decodeSlot(b: Buffer, slot: number): SlotRead {
  if (b.length < CURSOR_SLOT_USED) return b.every((x) => x === 0) ? 'empty' : 'damaged';
  const s = b.subarray(0, CURSOR_SLOT_USED);
  if (s.every((x) => x === 0)) return 'empty';
  const version = s.readUInt32LE(16);
  if (s.readUInt32LE(0) !== CURSOR_MAGIC || (version !== 2 && version !== 3) || s.readUInt32LE(20) !== slot) return 'damaged';
  let end = CURSOR_SLOT_USED;
  let checkpoint: Buffer | null = null;
  if (version === 3) {
    if (b.length < CURSOR_SLOT_USED + 4) return 'damaged';
    const n = b.readUInt32LE(CURSOR_SLOT_USED);
    if (n > CURSOR_CHECKPOINT_MAX || b.length < CURSOR_SLOT_USED + 4 + n) return 'damaged';
    end = CURSOR_SLOT_USED + 4 + n;
    checkpoint = Buffer.from(b.subarray(CURSOR_SLOT_USED + 4, end));
  }
  if ((crc32(b.subarray(8, end)) >>> 0) !== s.readUInt32LE(4)) return 'damaged';
  const id = s.readUInt32LE(8) + s.readUInt32LE(12) * 0x1_0000_0000;
  const seq = s.readUInt32LE(24) + s.readUInt32LE(28) * 0x1_0000_0000;
  return Number.isSafeInteger(id) && Number.isSafeInteger(seq) ? { id, seq, checkpoint } : 'damaged';
}

/** What a cursor file holds (`b`: its first `CURSOR_FILE_BYTES` bytes, or all of it if shorter). */
export type CursorRead =
  /** Version 2: the newest valid slot; `otherDamaged`: the other slot is damaged (torn), not just unwritten or older. */
  | { readonly format: 2; readonly id: number; readonly seq: number; readonly otherDamaged: boolean; readonly checkpoint: Buffer | null }
  /** Version 1 (24 bytes, or a migration to version 2 cut short before its first slot was complete). */
  | { readonly format: 1; readonly id: number; readonly seq: 0 }
  | null;

export function decodeCursorFile(b: Buffer): CursorRead {
  if (b.length > CURSOR_FILE_BYTES) return null;
  const v1 = b.length >= CURSOR_BYTES ? decodeCursorV1(b.subarray(0, CURSOR_BYTES)) : null;
  // Slot 0 still holding the version 1 cursor (a migration in progress) is an older copy, not damage.
  const a = v1 !== null ? 'empty' : decodeSlot(b.subarray(0, CURSOR_SLOT), 0);
  const z = decodeSlot(b.subarray(CURSOR_SLOT, CURSOR_FILE_BYTES), 1);
  const best = typeof a === 'object' && (typeof z !== 'object' || a.seq > z.seq) ? a : typeof z === 'object' ? z : null;
  if (best !== null) {
    const other = best === a ? z : a;
    return { format: 2, id: best.id, seq: best.seq, otherDamaged: other === 'damaged', checkpoint: best.checkpoint };
  }
  // Version 1 at offset 0: a file from before, or one whose migration wrote slot 1 only in part.
  return v1 === null ? null : { format: 1, id: v1, seq: 0 };
}

/** Reads and decodes a cursor file; rejects as `fs.open` does (ENOENT: there is none) or on a read error. */
export async function readCursorFile(fs: FileSystem, path: string): Promise<CursorRead> {
  const fh = await fs.open(path, 'read');
  try {
    const b = Buffer.alloc(CURSOR_FILE_BYTES);
    const n = await fh.read(b, 0, CURSOR_FILE_BYTES, 0);
    return decodeCursorFile(b.subarray(0, n));
  } finally {
    await fh.close();
  }
}

// ---- file names -----------------------------------------------------------------------------

export const LOCK_FILE = 'lock';
const SEGMENT_RE = /^seg-(\d{20})\.log$/;
export const segmentName = (firstId: number): string => `seg-${String(firstId).padStart(20, '0')}.log`;
export function parseSegmentName(name: string): number | null {
  const m = SEGMENT_RE.exec(name);
  if (m === null) return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : null;
}
export const CURSOR_PREFIX = 'cursor.';
export const TEMP_PREFIX = 'tmp.';
export const cursorName = (consumer: string): string => CURSOR_PREFIX + encodeURIComponent(consumer);
export const cursorTempName = (consumer: string): string => TEMP_PREFIX + cursorName(consumer);

/** The length a frame header at the start of `b` claims, or null when `b` does not start with the magic. */
export function claimedFrameLength(b: Buffer): number | null {
  if (b.length < 12 || b.readUInt32LE(0) !== FRAME_MAGIC) return null;
  return b.readUInt32LE(8);
}

// ---- scanning -------------------------------------------------------------------------------

export interface ScannedFrame {
  /** File offset of the frame's first byte. */
  readonly offset: number;
  readonly len: number;
  readonly kind: FrameKind;
  readonly id: number;
  readonly events: number;
  /** A view into the scanner's read buffer (valid as long as the caller keeps it). */
  readonly payload: Buffer;
  readonly meta: Buffer | null;
}

export type ScanEvent =
  | { readonly type: 'frame'; readonly frame: ScannedFrame }
  /** Bytes [from, to) held no valid frame; the frame at `to` is valid. */
  | { readonly type: 'bad'; readonly from: number; readonly to: number };

/** What the scan does after a visit: go on, stop after this frame, or stop before it (not consumed). */
export type ScanStep = 'continue' | 'stop' | 'stop-before';

export interface ScanEnd {
  /** Offset after the last frame visited (or `limit` when the scan ran to the end). */
  readonly end: number;
  /** Start of a damaged region that ran to `limit` with no valid frame after it, else null. */
  readonly badTailFrom: number | null;
  /** The id the next frame should have (`id + events` of the last valid frame). */
  readonly nextId: number;
  /** The last chunk read: pass it back as `carry` to continue without re-reading it. */
  readonly chunk: ReadChunk;
}

/** Bytes of a segment file already read: file offset `start` onwards. Never beyond a scan's `limit`. */
export interface ReadChunk {
  readonly buf: Buffer;
  readonly start: number;
}

/**
 * Walks the frames of one segment file from `start` up to `limit`, reading in chunks of at least
 * `chunk` bytes (one read per chunk, never one per frame). A frame is valid when its magic, version,
 * kind, lengths and CRC check out and its id is >= the id expected after the previous frame
 * (`expectId`). On an invalid frame the scanner resyncs by searching forward for the next magic
 * that starts a valid frame, and reports the skipped region. `visit` says whether to go on.
 * `carry` is a chunk of this file read earlier (the bytes of a segment below a durable limit never
 * change), so a reader that stops mid-chunk continues from memory on its next call. `alloc` gives
 * the memory for each chunk (a reader reuses buffers whose records were all acknowledged).
 */
export async function scanFrames(
  fh: FileHandle,
  start: number,
  limit: number,
  expectId: number,
  chunk: number,
  visit: (e: ScanEvent) => ScanStep,
  carry: ReadChunk | null = null,
  alloc: (size: number) => Buffer = (size) => Buffer.allocUnsafe(size),
): Promise<ScanEnd> {
  let buf: Buffer = carry?.buf ?? Buffer.alloc(0);
  let bufStart = carry?.start ?? start;
  let off = start;
  let expect = expectId;
  let badFrom: number | null = null;

  /** Makes [at, at+n) available in buf if the file has it below limit; returns bytes available from at. */
  const ensure = async (at: number, n: number): Promise<number> => {
    const want = Math.min(n, limit - at);
    if (at >= bufStart && at + want <= bufStart + buf.length) return bufStart + buf.length - at;
    const size = Math.min(Math.max(chunk, n), limit - at);
    const nb = alloc(size);
    let got = 0;
    while (got < size) {
      const r = await fh.read(nb, got, size - got, at + got);
      if (r === 0) break;
      got += r;
    }
    buf = got === size ? nb : nb.subarray(0, got);
    bufStart = at;
    return got;
  };

  /**
   * Parses the frame at `at` from the buffer alone (no await on the fast path): the frame if valid,
   * null if invalid, or the number of bytes from `at` that must be in the buffer to decide.
   */
  const parseAt = (at: number): ScannedFrame | null | number => {
    const p = at - bufStart;
    const avail = bufStart + buf.length - at;
    if (p < 0 || avail < FRAME_HEADER) return limit - at >= FRAME_HEADER ? FRAME_HEADER : null;
    if (buf.readUInt32LE(p) !== FRAME_MAGIC) return null;
    const len = buf.readUInt32LE(p + 8);
    const kindByte = buf[p + 12];
    const metaLen = buf.readUInt32LE(p + 28);
    if (len < FRAME_HEADER || len > FRAME_MAX || at + len > limit) return null;
    if (buf[p + 13] !== FRAME_VERSION || (kindByte !== KIND_DATA && kindByte !== KIND_SNAPSHOT)) return null;
    if (metaLen > len - FRAME_HEADER) return null;
    const id = buf.readUInt32LE(p + 16) + buf.readUInt32LE(p + 20) * 0x1_0000_0000;
    const events = buf.readUInt32LE(p + 24);
    if (!Number.isSafeInteger(id) || id < expect) return null;
    if (kindByte === KIND_DATA ? events < 1 : events !== 0) return null;
    if (avail < len) return len;
    const crc = crc32(buf.subarray(p + 8, p + len)) >>> 0;
    if (crc !== buf.readUInt32LE(p + 4)) return null;
    const payloadEnd = p + len - metaLen;
    return {
      offset: at,
      len,
      kind: kindByte === KIND_DATA ? 'data' : 'snapshot',
      id,
      events,
      payload: buf.subarray(p + FRAME_HEADER, payloadEnd),
      meta: metaLen > 0 ? buf.subarray(payloadEnd, p + len) : null,
    };
  };

  /** The frame at `at` if valid, else null, reading more of the file when the buffer is short. */
  const tryFrame = async (at: number): Promise<ScannedFrame | null> => {
    let r = parseAt(at);
    for (let i = 0; i < 2 && typeof r === 'number'; i++) {
      await ensure(at, r);
      r = parseAt(at);
    }
    return typeof r === 'number' ? null : r;
  };

  /** Offset of the next magic at or after `from` (below limit - header), or limit. */
  const nextMagic = async (from: number): Promise<number> => {
    let at = from;
    for (;;) {
      if (at + FRAME_HEADER > limit) return limit;
      if (at < bufStart || at >= bufStart + buf.length) await ensure(at, FRAME_HEADER);
      const i = buf.indexOf(FRAME_MAGIC_BYTES, at - bufStart);
      if (i >= 0) return bufStart + i;
      const bufEnd = bufStart + buf.length;
      if (bufEnd >= limit) return limit;
      at = Math.max(at + 1, bufEnd - 3);
      await ensure(at, chunk);
    }
  };

  while (off < limit) {
    const quick = parseAt(off);
    const f = typeof quick === 'number' ? await tryFrame(off) : quick;
    if (f === null) {
      if (badFrom === null) badFrom = off;
      off = await nextMagic(off + 1);
      continue;
    }
    if (badFrom !== null) {
      const from = badFrom;
      badFrom = null;
      visit({ type: 'bad', from, to: off });
    }
    const step = visit({ type: 'frame', frame: f });
    switch (step) {
      case 'continue':
        break;
      case 'stop':
        return { end: off + f.len, badTailFrom: null, nextId: f.id + f.events, chunk: { buf, start: bufStart } };
      case 'stop-before':
        return { end: off, badTailFrom: null, nextId: expect, chunk: { buf, start: bufStart } };
    }
    off += f.len;
    expect = f.id + f.events;
  }
  return { end: limit, badTailFrom: badFrom, nextId: expect, chunk: { buf, start: bufStart } };
}
