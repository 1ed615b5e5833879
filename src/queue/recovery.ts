/**
 * Recovery: what opening the queue does with what it finds on disk. Every finding is classified
 * (`./recovery-table.ts`, `Finding`), its row looked up with `decide()`, and the row's action
 * carried out here; this file holds no policy of its own. Damage never makes the open fail; an I/O
 * error reading a cursor does (the table says so), as does a locked directory (`./lock.ts`).
 *
 * Outcome: the segment list (each segment scanned, indexed, its damage counted), the next id, the
 * positions as written, every configured consumer's starting cursor, and the `RecoveryReport`.
 */
import { join } from 'node:path';
import type { FileSystem } from '../core/ports';
import type { QueueMetrics, RecoveryReport } from './types';
import { CURSOR_PREFIX, LOCK_FILE, TEMP_PREFIX, cursorName, parseSegmentName, readCursorFile, segmentName } from './format';
import { decide } from './recovery-table';
import { classifyDamage, scanSegment, type SegmentScan } from './recovery-scan';
import type { SegmentList } from './segment';
import { errorText, ioError, isCode } from './util';

export interface RecoveryInput {
  readonly fs: FileSystem;
  readonly dir: string;
  readonly consumers: readonly string[];
  /** What taking the lock found (a stale lock taken over), or null. */
  readonly lockNote: string | null;
  /** Filled with the segments found. */
  readonly segments: SegmentList;
  /** Filled with the positions as written (the writer's map). */
  readonly positions: Map<string, Uint8Array>;
  readonly metrics: QueueMetrics;
}

export interface Recovered {
  /** The id the next append gets. */
  readonly nextId: number;
  /** Where each configured consumer starts, in configuration order. */
  readonly starts: ReadonlyMap<string, number>;
  /**
   * Consumers whose cursor file was read and valid, with the sequence number of its newest copy
   * (0 for a version 1 file: the next persist writes the other slot, in place) and the sink's
   * checkpoint stored with it (null: none).
   */
  readonly withFile: ReadonlyMap<string, { readonly seq: number; readonly checkpoint: Buffer | null }>;
  /**
   * The positions snapshot that ends the last segment (a graceful close wrote it, or an open), with
   * the next id and the positions as recovered: the open reuses it instead of appending another.
   */
  readonly tailSnapshotLen: number | null;
  /** The report, but for `segments` (counted once the writer has its active segment). */
  readonly report: Omit<RecoveryReport, 'segments'>;
}

/** An action a row may name that this code cannot carry out for the finding: a bug in the table. */
function unsupported(row: { readonly label: string; readonly action: string }): never {
  throw new Error(`queue recovery table: row "${row.label}" names action ${row.action}, which recovery cannot take there`);
}

export async function recover(input: RecoveryInput): Promise<Recovered> {
  const { fs, dir, segments, positions, metrics } = input;
  const notes: string[] = [];
  if (input.lockNote !== null) notes.push(input.lockNote);
  const unknownFiles: string[] = [];
  const cursorsReset: string[] = [];
  let truncatedBytes = 0;
  let corruptRecords = 0;
  let lostEvents = 0;
  let records = 0;

  // ---- the directory ----
  const names = await fs.readdir(dir);
  const segIds: number[] = [];
  const cursorFiles = new Set<string>();
  let removedTemp = false;
  for (const name of names) {
    if (name === LOCK_FILE) continue;
    const sid = parseSegmentName(name);
    if (sid !== null) {
      segIds.push(sid);
      continue;
    }
    if (name.startsWith(CURSOR_PREFIX)) {
      cursorFiles.add(name);
      continue;
    }
    const row = decide({ kind: 'file', what: name.startsWith(TEMP_PREFIX) ? 'temp' : 'unknown' });
    unknownFiles.push(name);
    switch (row.action) {
      case 'delete':
        try {
          await fs.unlink(join(dir, name));
          removedTemp = true;
          notes.push(`removed leftover temporary file ${name} (an unfinished cursor write)`);
        } catch (e) {
          notes.push(`could not remove temporary file ${name}: ${errorText(e)}`);
        }
        break;
      case 'leave':
        notes.push(`unknown file ${name} left alone`);
        break;
    }
  }
  if (removedTemp) await fs.syncDir(dir);
  segIds.sort((a, b) => a - b);

  // ---- cursors first: events lost below every consumer's cursor were delivered already ----
  const oldest = segIds[0] ?? 0;
  const starts = new Map<string, number>();
  const withFile = new Map<string, { readonly seq: number; readonly checkpoint: Buffer | null }>();
  for (const name of input.consumers) {
    const file = cursorName(name);
    cursorFiles.delete(file);
    let id: number | null = null;
    let state: 'missing' | 'damaged' | 'unreadable' = 'missing';
    let error: unknown = null;
    try {
      const got = await readCursorFile(fs, join(dir, file));
      state = 'damaged';
      if (got !== null) {
        id = got.id;
        withFile.set(name, { seq: got.seq, checkpoint: got.format === 2 ? got.checkpoint : null });
        const found = got.format === 1 ? 'old-format' : got.otherDamaged ? 'one-copy-damaged' : null;
        if (found !== null) {
          const row = decide({ kind: 'cursor', state: found });
          switch (row.action) {
            case 'use-other-copy':
              notes.push(`consumer ${name}: one copy of the cursor in ${file} is damaged (a torn write); resuming at the other copy, ${got.id}`);
              break;
            case 'migrate':
              notes.push(`consumer ${name}: cursor file ${file} is in the version 1 format; it is rewritten in place as version 2 on the next persist`);
              break;
            case 'reset':
            case 'refuse':
            case 'ids-from-cursor':
              unsupported(row);
          }
        }
      }
    } catch (e) {
      // Missing: ENOENT. Any other error (EIO…) says nothing about the cursor's content.
      if (!isCode(e, 'ENOENT')) {
        state = 'unreadable';
        error = e;
      }
    }
    if (id !== null) {
      starts.set(name, id);
      continue;
    }
    const row = decide({ kind: 'cursor', state });
    switch (row.action) {
      case 'refuse':
        throw ioError(`queue ${dir}: cannot read the cursor file ${file} of consumer ${name}`, error);
      case 'reset':
        if (segIds.length > 0 || state !== 'missing') {
          cursorsReset.push(name);
          notes.push(`consumer ${name}: cursor file ${state}; starting at the oldest retained record ${oldest}`);
        }
        starts.set(name, oldest);
        break;
      case 'ids-from-cursor':
      case 'use-other-copy':
      case 'migrate':
        unsupported(row);
    }
  }
  let floor = Number.POSITIVE_INFINITY;
  for (const id of starts.values()) floor = Math.min(floor, id);
  const lose = (from: number, to: number): number => Math.max(0, to - Math.max(from, floor));

  // ---- segments, in order ----
  if (segIds.length === 0) {
    const row = decide({ kind: 'segment', state: 'none' });
    switch (row.action) {
      case 'create':
        break; // the writer creates the first segment (Writer.openTail)
      case 'keep':
        unsupported(row);
    }
  }
  let expected: number | null = null;
  let tailSnapshot: { readonly len: number; readonly id: number } | null = null;
  for (let i = 0; i < segIds.length; i++) {
    const firstId = segIds[i] as number;
    const last = i === segIds.length - 1;
    if (expected !== null && firstId > expected) {
      const row = decide({ kind: 'ids', where: 'between-segments' });
      switch (row.action) {
        case 'count-lost':
          lostEvents += lose(expected, firstId);
          notes.push(`ids ${expected}..${firstId - 1} are missing before ${segmentName(firstId)} (damaged segment tail or missing segment file)`);
          break;
      }
    }
    if (expected === null || firstId > expected) expected = firstId;
    const path = join(dir, segmentName(firstId));
    const fh = await fs.open(path, 'read');
    let size: number;
    let scan: SegmentScan;
    /** Where the table cuts this segment (the start of a torn tail), or null. */
    let cut: number | null = null;
    /** Damage that runs to the end of the file, which the table skips (left in place), or null. */
    let skippedTail: number | null = null;
    try {
      size = (await fh.stat()).size;
      const before = new Map(positions);
      scan = await scanSegment(fh, dir, firstId, size, expected, positions, lose);
      // Classify every damaged region in file order; the first one the table cuts at ends the segment.
      classify: for (const region of scan.regions) {
        const row = decide(await classifyDamage(fh, region, last, scan.lastSnapshotAt));
        switch (row.action) {
          case 'truncate':
            cut = region.from;
            break classify;
          case 'skip':
            break; // counted below, as one of the regions the final scan keeps
        }
      }
      if (cut === null && scan.badTailFrom !== null) {
        const tail = { from: scan.badTailFrom, to: size, followedBy: 'end' as const };
        const row = decide(await classifyDamage(fh, tail, last, scan.lastSnapshotAt));
        switch (row.action) {
          case 'truncate':
            cut = scan.badTailFrom;
            break;
          case 'skip':
            skippedTail = scan.badTailFrom;
            break;
        }
      }
      const cutAt = cut;
      if (cutAt !== null && scan.regions.some((r) => r.from >= cutAt)) {
        // A zero hole with frames after it: scan again up to the cut, as if the file ended there.
        positions.clear();
        for (const [k, v] of before) positions.set(k, v);
        scan = await scanSegment(fh, dir, firstId, cutAt, expected, positions, lose);
      }
    } finally {
      await fh.close();
    }
    const seg = scan.seg;
    seg.sealed = !last;
    seg.snapshotDurable = true;
    records += scan.records;
    lostEvents += scan.lost;
    notes.push(...scan.notes);
    expected = scan.nextId;
    for (const region of scan.regions) {
      // The regions before any cut, each decided 'skip' above: count, resync (a reader skips them too).
      corruptRecords++;
      seg.knownBad.add(region.from);
      notes.push(`${segmentName(firstId)}: skipped ${region.to - region.from} damaged bytes at offset ${region.from}`);
    }
    if (size === 0) {
      const row = decide({ kind: 'segment', state: 'empty' });
      switch (row.action) {
        case 'keep':
          notes.push(`${segmentName(firstId)} is empty`);
          break;
        case 'create':
          unsupported(row);
      }
    }
    if (cut !== null) {
      const wfh = await fs.open(path, 'append');
      try {
        await wfh.truncate(cut);
        await wfh.datasync();
      } finally {
        await wfh.close();
      }
      truncatedBytes += size - cut;
      notes.push(`${segmentName(firstId)}: truncated ${size - cut} bytes of torn or damaged tail at offset ${cut}`);
      size = cut;
    } else if (skippedTail !== null) {
      const from = skippedTail;
      corruptRecords++;
      seg.knownBad.add(from);
      notes.push(`${segmentName(firstId)}: ${size - from} damaged bytes at the end (offset ${from}) skipped`);
    }
    seg.size = size;
    seg.durableSize = size;
    const lf = scan.lastFrame;
    tailSnapshot = last && lf?.kind === 'snapshot' && lf.end === size ? { len: lf.len, id: lf.id } : null;
    segments.push(seg);
    metrics.bytesOnDisk += size;
  }
  let nextId = expected ?? 0;

  for (const [name, id] of starts) {
    if (id <= nextId) continue;
    const row = decide({ kind: 'cursor', state: 'beyond-log-end' });
    switch (row.action) {
      case 'ids-from-cursor':
        notes.push(`consumer ${name}: cursor ${id} is beyond the end of the log ${nextId} (the log tail was lost); new ids start at ${id}`);
        nextId = id;
        break;
      case 'reset':
      case 'refuse':
      case 'use-other-copy':
      case 'migrate':
        unsupported(row);
    }
  }
  for (const f of cursorFiles) {
    const row = decide({ kind: 'file', what: 'foreign-cursor' });
    switch (row.action) {
      case 'leave':
        notes.push(`cursor file ${f} belongs to no configured consumer; left alone`);
        break;
      case 'delete':
        unsupported(row);
    }
  }

  metrics.corruptRecordsSkipped = corruptRecords;
  const tailSnapshotLen = tailSnapshot?.id === nextId ? tailSnapshot.len : null;
  return { nextId, starts, withFile, tailSnapshotLen, report: { records, truncatedBytes, corruptRecords, lostEvents, unknownFiles, cursorsReset, notes } };
}
