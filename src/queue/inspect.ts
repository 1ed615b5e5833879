/**
 * A read-only look at a queue directory, for `sluice queue inspect` and `sluice queue verify`: every
 * segment's frames checked (magic, lengths, version, kind, ids, CRC) with the scanner recovery uses
 * (`scanFrames` in `./format.ts`), every cursor file decoded (`decodeCursorFile`), each damaged region
 * classified by the recovery table (`classifyDamage` + `decide`), so "what start-up would do with it"
 * has one answer. Nothing is written, nothing is locked, nothing is truncated: it is safe while an
 * agent runs. Then a region at the end of the segment being appended to is a write in progress, not
 * damage.
 *
 * Cost: one sequential read of every segment (in chunks of 4 MiB), one pass; memory is one chunk
 * plus a few numbers per segment and per consumer, whatever the queue's size.
 */
import { join } from 'node:path';
import type { FileHandle, FileSystem } from '../core/ports';
import { applyPositions, claimedFrameLength, CURSOR_PREFIX, cursorName, FRAME_HEADER, LOCK_FILE, parseSegmentName, readCursorFile, scanFrames, segmentName, TEMP_PREFIX } from './format';
import { lockHolder } from './lock';
import { READ_CHUNK } from './reader';
import { classifyDamage, type Region } from './recovery-scan';
import { decide } from './recovery-table';
import { errorText, isCode } from './util';

export interface InspectOptions {
  /** The configured consumers (sinks): each gets a row, with or without a cursor file. */
  readonly consumers: readonly string[];
  /** When a record's payload says it was ingested (wall ms), if it says (the agent's envelope does). */
  readonly recordTime?: (payload: Buffer) => number | undefined;
}

export interface SegmentReport {
  readonly file: string;
  readonly size: number;
  /** Data records (batches) and the events in them. */
  readonly records: number;
  readonly events: number;
  /** Id of the first and of the last data record (null: none). */
  readonly firstRecordId: number | null;
  readonly lastRecordId: number | null;
  /** The id after the last event in this segment. */
  readonly endId: number;
  /** Ingest time (wall ms) of its first data record, when the payload tells. */
  readonly oldestMs: number | undefined;
}

export type CursorState = 'ok' | 'missing' | 'damaged' | 'one-copy-damaged' | 'old-format' | 'unreadable';

export interface ConsumerReport {
  readonly name: string;
  /** False: a cursor file of a consumer the config does not name (left alone by the agent). */
  readonly configured: boolean;
  /** The persisted cursor (every record below it is acknowledged), or null when none is readable. */
  readonly cursor: number | null;
  readonly cursorState: CursorState;
  /** Where the consumer resumes: its cursor, or the oldest retained record when it has none. */
  readonly resumeAt: number;
  /** Events and frame bytes on disk at or after `resumeAt`. */
  readonly backlogEvents: number;
  readonly backlogBytes: number;
  /** Ingest time (wall ms) of the oldest record it has not acknowledged, when known. */
  readonly oldestUnackedMs: number | undefined;
}

/** One thing found: `damage` makes `sluice queue verify` fail; a `note` does not. */
export interface Finding {
  readonly severity: 'damage' | 'note';
  /** The file (in the queue directory) it is in. */
  readonly file: string;
  /** Byte offset and length in that file, where it is a region. */
  readonly offset?: number;
  readonly bytes?: number;
  /** First and last record id lost to it (or missing), where ids are involved. */
  readonly ids?: readonly [number, number];
  readonly what: string;
}

export interface QueueReport {
  readonly dir: string;
  /** The pid of the live agent holding the directory, or null. */
  readonly heldBy: number | null;
  readonly segments: readonly SegmentReport[];
  readonly totalBytes: number;
  /** The id after the last record on disk. */
  readonly headId: number;
  readonly consumers: readonly ConsumerReport[];
  readonly findings: readonly Finding[];
  /** Frames checked (data and snapshots). */
  readonly frames: number;
}

interface ConsumerScan {
  name: string;
  configured: boolean;
  cursor: number | null;
  cursorState: CursorState;
  resumeAt: number;
  backlogEvents: number;
  backlogBytes: number;
  oldestUnackedMs: number | undefined;
}

interface DamagedRegion extends Region {
  readonly file: string;
  /** The id expected at the region, and the id of the frame after it (null: it runs to the end). */
  readonly expectId: number;
  nextId: number | null;
  /** Start-up cuts the segment here (the recovery table's torn-tail rows) instead of skipping it. */
  readonly cut?: boolean;
  /** What the region starts with (set once it is known to be damage). */
  readonly start?: FrameStart;
}

/** Reads `dir` (a queue directory) without changing it; rejects only on I/O errors. */
export async function inspectQueue(fs: FileSystem, dir: string, opts: InspectOptions): Promise<QueueReport> {
  const heldBy = await lockHolder(fs, dir);
  const running = heldBy !== null;
  const names = await fs.readdir(dir);
  const segIds = names.map(parseSegmentName).filter((x): x is number => x !== null);
  segIds.sort((a, b) => a - b);
  const oldest = segIds[0] ?? 0;
  const findings: Finding[] = [];

  for (const name of names) {
    if (name === LOCK_FILE || name.startsWith(CURSOR_PREFIX) || parseSegmentName(name) !== null) continue;
    const temp = name.startsWith(TEMP_PREFIX);
    findings.push({ severity: 'note', file: name, what: temp ? 'a cursor file being created (removed on the next start if left over)' : 'not a file of the queue (left alone)' });
  }
  const configured = new Set(opts.consumers);
  const cursorFiles = names.filter((n) => n.startsWith(CURSOR_PREFIX));
  const consumerNames = [...opts.consumers];
  for (const f of cursorFiles) {
    const name = decodeName(f.slice(CURSOR_PREFIX.length));
    if (name !== null && !configured.has(name)) consumerNames.push(name);
  }
  const consumers: ConsumerScan[] = [];
  for (const name of consumerNames) consumers.push(await readCursor(fs, dir, name, configured.has(name), oldest, running, findings));
  let floor = Number.POSITIVE_INFINITY;
  let ceiling = 0;
  for (const c of consumers) {
    if (!c.configured) continue;
    floor = Math.min(floor, c.resumeAt);
    ceiling = Math.max(ceiling, c.cursor ?? 0);
  }

  const segments: SegmentReport[] = [];
  const regions: DamagedRegion[] = [];
  const scratch = new Map<string, Uint8Array>();
  let expected: number | null = null;
  /** The segment before ended in damage: the ids up to the next segment are reported with it. */
  let endedDamaged = false;
  let frames = 0;
  let totalBytes = 0;
  for (let i = 0; i < segIds.length; i++) {
    const firstId = segIds[i] as number;
    const file = segmentName(firstId);
    const last = i === segIds.length - 1;
    if (expected !== null && firstId > expected && !endedDamaged) {
      missing(findings, file, expected, firstId, floor, `ids missing before this segment (a segment file gone, or damage at the end of the one before)`);
    }
    if (expected === null || firstId > expected) expected = firstId;
    endedDamaged = false;
    let fh: FileHandle;
    try {
      fh = await fs.open(join(dir, file), 'read');
    } catch (e) {
      if (!isCode(e, 'ENOENT')) throw e;
      findings.push({ severity: 'note', file, what: 'deleted while being read (every sink had passed it)' });
      continue;
    }
    try {
      const size = (await fh.stat()).size;
      let records = 0;
      let events = 0;
      let firstRecordId: number | null = null;
      let lastRecordId: number | null = null;
      let oldestMs: number | undefined;
      let lastSnapshotAt = -1;
      let exp: number = expected;
      let open: DamagedRegion | null = null;
      const here: DamagedRegion[] = [];
      const end = await scanFrames(fh, 0, size, exp, 4 * READ_CHUNK, (ev) => {
        if (ev.type === 'bad') {
          open = { file, from: ev.from, to: ev.to, expectId: exp, nextId: null };
          here.push(open);
          return 'continue';
        }
        const f = ev.frame;
        frames++;
        if (open !== null) open.nextId = f.id;
        else if (f.id > exp) missing(findings, file, exp, f.id, floor, `ids missing between two valid frames at offset ${f.offset}`);
        open = null;
        if (f.meta !== null) {
          scratch.clear();
          if (!applyPositions(f.meta, scratch)) findings.push({ severity: 'note', file, offset: f.offset, what: 'positions block does not parse (the record is kept; start-up ignores the block)' });
        }
        if (f.kind === 'snapshot') lastSnapshotAt = f.offset;
        else {
          records++;
          events += f.events;
          firstRecordId ??= f.id;
          lastRecordId = f.id;
          // The payload's time is read only where it is shown: a segment's first record, a sink's first unacked one.
          let t: number | undefined;
          const time = (): number | undefined => (t ??= opts.recordTime?.(f.payload));
          if (records === 1) oldestMs = time();
          const endId = f.id + f.events;
          for (const c of consumers) {
            if (endId <= c.resumeAt) continue;
            if (c.backlogBytes === 0) c.oldestUnackedMs = time(); // its first unacknowledged record
            c.backlogEvents += endId - Math.max(f.id, c.resumeAt);
            c.backlogBytes += f.len;
          }
        }
        exp = f.id + f.events;
        return 'continue';
      });
      if (end.badTailFrom !== null) {
        here.push({ file, from: end.badTailFrom, to: size, expectId: end.nextId, nextId: null });
        endedDamaged = true;
      }
      // Regions the recovery table cuts (a torn write after the last snapshot) are not damage; while an
      // agent runs, one at the end of the file being appended to is that append, not even torn.
      const grew = running && (await fh.stat()).size > size;
      for (const r of here) {
        const row = decide(await classifyDamage(fh, r.nextId === null ? { ...r, followedBy: 'end' } : r, last, lastSnapshotAt));
        const bytes = r.to - r.from;
        if (running && r.nextId === null && (last || grew)) {
          findings.push({ severity: 'note', file, offset: r.from, bytes, what: 'being written (in progress: the agent is running)' });
          continue;
        }
        const start = await frameAt(fh, r);
        switch (row.action) {
          case 'truncate':
            // A torn write ends inside its frame (or left zeros). A whole frame that fails its checks,
            // or one holding ids a sink acknowledged, was durable once: damage, which start-up cuts.
            if (start === 'whole' || ceiling > r.expectId) {
              regions.push({ ...r, start, cut: true });
              break;
            }
            findings.push({ severity: 'note', file, offset: r.from, bytes, what: 'torn tail: a write cut short by a crash; the next start cuts it (it was never acknowledged)' });
            break;
          case 'skip':
            regions.push({ ...r, start });
            break;
        }
      }
      expected = Math.max(exp, end.nextId);
      segments.push({ file, size, records, events, firstRecordId, lastRecordId, endId: expected, oldestMs });
      totalBytes += size;
    } finally {
      await fh.close();
    }
  }
  // Damage: the ids it took are those up to the next valid frame (or the next segment's first id).
  for (const r of regions) {
    const i = segments.findIndex((s) => s.file === r.file);
    const next = r.nextId ?? (segments[i + 1] !== undefined ? parseSegmentName(segments[i + 1]?.file ?? '') : null);
    const ids: [number, number] | undefined = next !== null && next > r.expectId ? [r.expectId, next - 1] : undefined;
    const delivered = ids !== undefined && ids[1] < floor;
    const lost =
      ids !== undefined
        ? `record ids ${ids[0]}..${ids[1]} ${delivered ? '(already acknowledged by every sink)' : 'lost'}`
        : r.cut === true
          ? `record ids from ${r.expectId} on lost`
          : 'no record ids lost (a damaged snapshot, or bytes between frames)';
    const action = r.cut === true ? 'start-up cuts the segment there' : 'start-up skips it';
    findings.push({ severity: 'damage', file: r.file, offset: r.from, bytes: r.to - r.from, ...(ids ? { ids } : {}), what: `damaged: ${DAMAGE_TEXT[r.start ?? 'none']}; ${lost}; ${action}` });
  }
  return {
    dir,
    heldBy,
    segments,
    totalBytes,
    headId: expected ?? 0,
    consumers: consumers.map((c) => ({ ...c })),
    findings,
    frames,
  };
}

/** Ids [from, to) missing: damage where a configured consumer still needed them, else a note. */
function missing(findings: Finding[], file: string, from: number, to: number, floor: number, what: string): void {
  const needed = to > floor;
  findings.push({ severity: needed ? 'damage' : 'note', file, ids: [from, to - 1], what: needed ? what : `${what}; every sink had acknowledged them` });
}

/** What the damaged region `r` starts with. */
async function frameAt(fh: FileHandle, r: Region): Promise<FrameStart> {
  const b = Buffer.alloc(FRAME_HEADER);
  const n = await fh.read(b, 0, FRAME_HEADER, r.from);
  const len = claimedFrameLength(b.subarray(0, n));
  if (len === null) return 'none';
  return len >= FRAME_HEADER && r.from + len <= r.to ? 'whole' : 'cut';
}

/** What a damaged region starts with: no frame header, a header whose frame lies whole in the region, or one whose length runs past it. */
type FrameStart = 'none' | 'whole' | 'cut';

const DAMAGE_TEXT: Readonly<Record<FrameStart, string>> = {
  none: 'bytes that start no frame (garbage, zeros, or a damaged frame header)',
  whole: 'a frame whose checksum (or header fields) does not match its bytes',
  cut: 'a frame header whose length runs past the damage (a damaged length, or a frame cut short)',
};

function decodeName(encoded: string): string | null {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return null;
  }
}

async function readCursor(fs: FileSystem, dir: string, name: string, configured: boolean, oldest: number, running: boolean, findings: Finding[]): Promise<ConsumerScan> {
  const file = cursorName(name);
  let cursor: number | null = null;
  let state: CursorState = 'missing';
  try {
    const got = await readCursorFile(fs, join(dir, file));
    if (got === null) state = 'damaged';
    else {
      cursor = got.id;
      state = got.format === 1 ? 'old-format' : got.otherDamaged ? 'one-copy-damaged' : 'ok';
    }
  } catch (e) {
    if (!isCode(e, 'ENOENT')) {
      state = 'unreadable';
      findings.push({ severity: 'damage', file, what: `cursor of ${name} cannot be read: ${errorText(e)}` });
    }
  }
  switch (state) {
    case 'damaged':
      findings.push({ severity: 'damage', file, what: `cursor of ${name} is damaged (both copies); start-up resets it to the oldest record: duplicates, no loss` });
      break;
    case 'one-copy-damaged':
      // While the agent runs, a read can meet a copy being overwritten in place.
      findings.push({ severity: 'note', file, what: running ? `one copy of ${name}'s cursor is being written` : `one copy of ${name}'s cursor is damaged (a torn write); the other copy is used` });
      break;
    case 'old-format':
      findings.push({ severity: 'note', file, what: `cursor of ${name} is in the version 1 format (rewritten on the next persist)` });
      break;
    case 'missing':
      if (configured) findings.push({ severity: 'note', file, what: `no cursor file for ${name}: it starts at the oldest record` });
      break;
    case 'ok':
    case 'unreadable':
      break;
  }
  return { name, configured, cursor, cursorState: state, resumeAt: cursor ?? oldest, backlogEvents: 0, backlogBytes: 0, oldestUnackedMs: undefined };
}
