/**
 * The recovery decision table, as data (TigerBeetle's `journal.zig` `Case.init` rows are the model).
 *
 * Opening the queue classifies everything it finds on disk into a `Finding`: a kind with a few
 * attributes, each from a closed set (`ATTRIBUTES`). `decide()` looks the finding up in `TABLE`,
 * the one place that says what start-up does with it; the code in `./lock.ts` and `./recovery.ts`
 * only classifies and then carries out the row's `action` (an exhaustive `switch`).
 *
 * `test/queue/recovery-table.test.ts` checks that every combination of attributes matches exactly
 * one row, and that every row names a test that exists (and exercises it).
 *
 * Words used below: the *tail* of the last segment is what follows its last positions snapshot.
 * A snapshot after offset 0 is written only by an open or a graceful close, each after an
 * fdatasync of everything before it and fdatasync'ed itself (whatever the policy), so every byte
 * before a snapshot was durable once; bytes after the last one may never have been synced.
 * A *zero hole* is a damaged region that holds a whole sector of zeros (`SECTOR` bytes at a file
 * offset that is a multiple of `SECTOR`): the signature of a write whose size reached the disk
 * before its data. A disk writes whole sectors (the page cache whole 4 KiB pages), so a torn write
 * that leaves zeros leaves an aligned sector of them — except where it starts: the sector (or page)
 * holding the old end of file, rewritten by the next write and not written back while later ones
 * were (out-of-order writeback, finding F-OOO), reads as its old bytes up to the old end, then
 * zeros up to the boundary. So a region that starts unaligned with zeros running to the next sector
 * boundary (`zeros-to-sector`) is the same signature, in the tail. A flipped bit, a few zeroed bytes
 * inside a frame or other garbage are neither, and stay "damage, skip". (The damage fuzz test zeroes
 * up to 300 bytes anywhere of a cleanly closed queue: never a whole aligned sector, and a run from a
 * frame start to a sector boundary lies before the closing snapshot, so never a torn tail.)
 */

/** The unit of a zero hole: a damaged region holding this many zero bytes at an aligned offset. */
export const SECTOR = 512;

/** Every kind of finding and the values each of its attributes can take. */
export const ATTRIBUTES = {
  /** The `lock` file, when it exists already (or the directory is open in this process). */
  lock: {
    holder: ['live-process', 'open-in-this-process', 'dead-process', 'pid-reused', 'own-pid', 'unreadable'],
  },
  /** A file that is neither a segment, nor the lock, nor the cursor of a configured consumer. */
  file: { what: ['temp', 'unknown', 'foreign-cursor'] },
  /** The cursor file of a configured consumer. */
  cursor: { state: ['missing', 'damaged', 'one-copy-damaged', 'old-format', 'unreadable', 'beyond-log-end'] },
  /** The segment files as a whole, or one of them. */
  segment: { state: ['none', 'empty'] },
  /** Record ids missing where no damage explains them. */
  ids: { where: ['between-segments', 'inside-segment'] },
  /** A region of a segment that holds no valid frame. */
  damage: {
    segment: ['last', 'older'],
    /** A valid frame follows it in the same segment, or it runs to the end of the file. */
    followedBy: ['frame', 'end'],
    /**
     * zeros: it holds a whole aligned sector of zeros (a zero hole); zeros-to-sector: it starts with
     * zeros running from its unaligned start up to the next sector boundary (the old end of file);
     * other: neither (a bad checksum, garbage, a few zeroed bytes inside a frame).
     */
    content: ['zeros', 'zeros-to-sector', 'other'],
    /** A valid positions snapshot follows it in the segment (it was synced), or it lies in the tail. */
    place: ['before-snapshot', 'tail'],
  },
  /** A frame whose checksum is good but whose positions block does not parse. */
  positions: { state: ['unreadable'] },
} as const;

type Attributes = typeof ATTRIBUTES;
export type FindingKind = keyof Attributes;
type Value<T> = T extends readonly (infer V)[] ? V : never;
export type FindingOf<K extends FindingKind> = { readonly kind: K } & {
  readonly [A in keyof Attributes[K]]: Value<Attributes[K][A]>;
};
/** One thing recovery found, classified. */
export type Finding = { [K in FindingKind]: FindingOf<K> }[FindingKind];

/** What start-up may do, per kind of finding. */
export interface ActionsByKind {
  /** refuse: reject the open (an error); take-over: remove the lock file and create ours. */
  lock: 'refuse' | 'take-over';
  /** delete the file / leave it alone. */
  file: 'delete' | 'leave';
  /**
   * reset: start at the oldest retained record; refuse: reject the open; ids-from-cursor: new ids
   * start at the cursor; use-other-copy: start at the other slot's cursor; migrate: start at the
   * version 1 cursor, rewritten in place as version 2 on the next persist.
   */
  cursor: 'reset' | 'refuse' | 'ids-from-cursor' | 'use-other-copy' | 'migrate';
  /** create the first segment / keep the empty one. */
  segment: 'create' | 'keep';
  /** count the missing events as lost (those at or above the lowest cursor) and go on. */
  ids: 'count-lost';
  /** truncate the segment where the damage starts / skip the region and resync on the next frame. */
  damage: 'truncate' | 'skip';
  /** ignore the positions block (the record itself is kept). */
  positions: 'ignore';
}

export type PatternOf<K extends FindingKind> = { readonly kind: K } & Partial<Omit<FindingOf<K>, 'kind'>>;

export interface RowOf<K extends FindingKind> {
  /** Short name, used in notes and in the docs. */
  readonly label: string;
  /** Matches a finding when every attribute it names is equal (an attribute left out matches any value). */
  readonly when: PatternOf<K>;
  readonly action: ActionsByKind[K];
  /** Where the finding shows: error code, `RecoveryReport` fields, `notes`. */
  readonly reported: string;
  /** The name of the test that exercises this row (checked to exist). */
  readonly test: string;
}
export type Row = { [K in FindingKind]: RowOf<K> }[FindingKind];

export const TABLE: readonly Row[] = [
  // ---- the lock ----
  {
    label: 'lock held by another live process',
    when: { kind: 'lock', holder: 'live-process' },
    action: 'refuse',
    reported: 'QueueLockedError (SLUICE_QUEUE_LOCKED) naming the directory and the pid',
    test: 'a directory held by another live process is refused; once that process is killed its lock is taken over',
  },
  {
    label: 'directory open in this process (through any FileSystem object)',
    when: { kind: 'lock', holder: 'open-in-this-process' },
    action: 'refuse',
    reported: 'QueueLockedError (SLUICE_QUEUE_LOCKED) naming this process',
    test: 'F7: a second open in the same process is refused even through another FileSystem object for the same disk',
  },
  {
    label: 'lock of a dead process',
    when: { kind: 'lock', holder: 'dead-process' },
    action: 'take-over',
    reported: 'note',
    test: 'a lock left by a dead process is taken over',
  },
  {
    label: 'lock naming a live pid that another process has now (its start time is not the one recorded; in an old lock without one, it started after the lock was written)',
    when: { kind: 'lock', holder: 'pid-reused' },
    action: 'take-over',
    reported: 'note',
    test: 'a lock file naming a live pid that another process has now (pid reused) is taken over',
  },
  {
    label: 'lock with our own pid and no open queue here (a close that could not remove it)',
    when: { kind: 'lock', holder: 'own-pid' },
    action: 'take-over',
    reported: 'note',
    test: 'F3: a close that could not remove its lock file says so, or the same process can open the queue again',
  },
  {
    label: 'lock empty or unreadable (a crash while creating it)',
    when: { kind: 'lock', holder: 'unreadable' },
    action: 'take-over',
    reported: 'note',
    test: 'an empty lock file (a crash while creating it) is taken over',
  },
  // ---- other files ----
  {
    label: 'temporary file (an unfinished cursor write)',
    when: { kind: 'file', what: 'temp' },
    action: 'delete',
    reported: 'unknownFiles, note (the previous cursor stands)',
    test: 'a leftover temporary cursor file is removed and the previous cursor stands',
  },
  {
    label: 'unknown file or directory',
    when: { kind: 'file', what: 'unknown' },
    action: 'leave',
    reported: 'unknownFiles, note',
    test: 'an unknown file is reported and left alone',
  },
  {
    label: 'cursor file of a consumer not configured',
    when: { kind: 'file', what: 'foreign-cursor' },
    action: 'leave',
    reported: 'note',
    test: 'the cursor file of a consumer that is no longer configured is left alone',
  },
  // ---- cursors of configured consumers ----
  {
    label: 'cursor file missing',
    when: { kind: 'cursor', state: 'missing' },
    action: 'reset',
    reported: 'cursorsReset (only if the queue held segments), note: duplicates, never loss',
    test: 'a missing cursor file starts the consumer at the oldest retained record',
  },
  {
    label: 'cursor file damaged (both copies, or a version 1 file: size, magic, checksum)',
    when: { kind: 'cursor', state: 'damaged' },
    action: 'reset',
    reported: 'cursorsReset, note',
    test: 'a damaged cursor file starts the consumer at the oldest retained record',
  },
  {
    label: 'one copy of the cursor damaged (a torn in-place write), the other valid',
    when: { kind: 'cursor', state: 'one-copy-damaged' },
    action: 'use-other-copy',
    reported: 'note (resumes at the other copy: at most the deliveries of one persist again)',
    test: 'a cursor file with one damaged copy falls back to the other copy instead of the oldest record',
  },
  {
    label: 'cursor file in the version 1 format (one copy, replaced by rename)',
    when: { kind: 'cursor', state: 'old-format' },
    action: 'migrate',
    reported: 'note (rewritten in place as two copies on the first persist, no new space needed)',
    test: 'a version 1 cursor file is read and migrated in place to two copies',
  },
  {
    label: 'cursor file unreadable (EIO, EACCES: an I/O error, not damage)',
    when: { kind: 'cursor', state: 'unreadable' },
    action: 'refuse',
    reported: 'QueueIoError (SLUICE_QUEUE_IO); retrying may succeed',
    test: 'F2: an I/O error reading a cursor file fails the open instead of re-delivering everything',
  },
  {
    label: 'cursor beyond the end of the log (the log tail was lost)',
    when: { kind: 'cursor', state: 'beyond-log-end' },
    action: 'ids-from-cursor',
    reported: 'note (ids are never reused)',
    test: 'a cursor beyond the end of the log makes new ids start at the cursor',
  },
  // ---- segments ----
  {
    label: 'no segment at all',
    when: { kind: 'segment', state: 'none' },
    action: 'create',
    reported: '—',
    test: 'appended records are read back in order with ids advancing by their event counts',
  },
  {
    label: 'empty (0-byte) segment',
    when: { kind: 'segment', state: 'empty' },
    action: 'keep',
    reported: 'note (the last one is appended to; an older one is deleted once passed)',
    test: 'an empty last segment (crash right after creating it) is reused and ids continue',
  },
  {
    label: 'ids missing between two segments (a segment file gone)',
    when: { kind: 'ids', where: 'between-segments' },
    action: 'count-lost',
    reported: 'lostEvents, note',
    test: 'a segment file missing in the middle loses only its events, which are counted',
  },
  {
    label: 'ids missing between two valid frames of a segment',
    when: { kind: 'ids', where: 'inside-segment' },
    action: 'count-lost',
    reported: 'lostEvents (none below the lowest cursor), note',
    test: 'a cursor beyond the end of the log makes new ids start at the cursor',
  },
  // ---- damage (bad checksum or framing, or an id below the expected one: stale bytes) ----
  {
    label: 'torn tail: damage running to the end of the last segment',
    when: { kind: 'damage', segment: 'last', followedBy: 'end' },
    action: 'truncate',
    reported: 'truncatedBytes, note',
    test: 'garbage appended after the last record is truncated',
  },
  {
    label: "torn tail: a zero hole in the last segment's tail, valid frames after it",
    when: { kind: 'damage', segment: 'last', followedBy: 'frame', content: 'zeros', place: 'tail' },
    action: 'truncate',
    reported: 'truncatedBytes, note (the frames after the hole were never acknowledged: not resurrected)',
    test: "a hole of zeros followed by valid frames in the last segment's tail is cut as a torn write",
  },
  {
    label: 'zero hole before a snapshot of the last segment (synced data)',
    when: { kind: 'damage', segment: 'last', followedBy: 'frame', content: 'zeros', place: 'before-snapshot' },
    action: 'skip',
    reported: 'corruptRecords, lostEvents, note',
    test: 'a hole of zeros before a snapshot the last open wrote is skipped as corruption',
  },
  {
    label: "torn tail: zeros from the old end of file to a sector boundary in the last segment's tail, valid frames after it",
    when: { kind: 'damage', segment: 'last', followedBy: 'frame', content: 'zeros-to-sector', place: 'tail' },
    action: 'truncate',
    reported: 'truncatedBytes, note (the sector holding the old end was not written back, later ones were: out-of-order writeback; nothing after it was acknowledged)',
    test: "zeros from the old end of file to a sector boundary, then the middle of a frame, in the last segment's tail are cut as a torn write (F-OOO)",
  },
  {
    label: 'zeros from a frame end to a sector boundary before a snapshot of the last segment (synced data)',
    when: { kind: 'damage', segment: 'last', followedBy: 'frame', content: 'zeros-to-sector', place: 'before-snapshot' },
    action: 'skip',
    reported: 'corruptRecords, lostEvents, note',
    test: 'zeros from a frame start to a sector boundary before a snapshot are skipped as corruption',
  },
  {
    label: 'damaged frame followed by valid frames in the last segment',
    when: { kind: 'damage', segment: 'last', followedBy: 'frame', content: 'other' },
    action: 'skip',
    reported: 'corruptRecords, lostEvents (next id - expected id), note',
    test: 'a record with a bad checksum in the middle is skipped, counted, and the records after it are read',
  },
  {
    label: 'damaged frame followed by valid frames in a segment that is not the last',
    when: { kind: 'damage', segment: 'older', followedBy: 'frame' },
    action: 'skip',
    reported: 'corruptRecords, lostEvents, note',
    test: 'a damaged record in a segment that is not the last is skipped and the records after it are read',
  },
  {
    label: 'damage at the end of a segment that is not the last',
    when: { kind: 'damage', segment: 'older', followedBy: 'end' },
    action: 'skip',
    reported: "corruptRecords, lostEvents (next segment's first id - expected id), note",
    test: 'damage at the end of a segment that is not the last is skipped, not truncated',
  },
  // ---- positions ----
  {
    label: 'positions block that does not parse in a frame with a good checksum',
    when: { kind: 'positions', state: 'unreadable' },
    action: 'ignore',
    reported: 'note (the record is kept; the positions keep their previous values)',
    test: 'a frame whose positions block does not parse keeps its record and ignores the positions',
  },
];

/** Whether `row` matches `finding`: same kind, and every attribute the row names is equal. */
export function matches(row: Row, finding: Finding): boolean {
  if (row.when.kind !== finding.kind) return false;
  const want = row.when as unknown as Readonly<Record<string, unknown>>;
  const got = finding as unknown as Readonly<Record<string, unknown>>;
  for (const key of Object.keys(want)) if (want[key] !== got[key]) return false;
  return true;
}

/** The one row for `finding` (the table test proves there is exactly one for every finding). */
export function decide<K extends FindingKind>(finding: FindingOf<K>): RowOf<K> {
  const f = finding as unknown as Finding;
  for (const row of TABLE) if (matches(row, f)) return row as unknown as RowOf<K>;
  throw new Error(`queue recovery table: no row for ${JSON.stringify(finding)}`);
}

/** Every finding the attributes allow (the cartesian product per kind), for the table test. */
export function allFindings(): Finding[] {
  const out: Finding[] = [];
  for (const kind of Object.keys(ATTRIBUTES) as FindingKind[]) {
    let partial: Record<string, unknown>[] = [{ kind }];
    for (const [attr, values] of Object.entries(ATTRIBUTES[kind]) as [string, readonly unknown[]][]) {
      partial = partial.flatMap((p) => values.map((v) => ({ ...p, [attr]: v })));
    }
    out.push(...(partial as unknown as Finding[]));
  }
  return out;
}
