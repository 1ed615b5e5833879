/**
 * The file source: tails the files matching a set of globs, follows rotation, and never loses or
 * repeats a line across restarts, because its positions become durable in the same queue write as
 * the lines they describe. docs/sources.md is the user's view; this is the design.
 *
 * ## Layout
 *   source.ts     `FileSource`: the loop, and what ties the parts together (scan, read, let go)
 *   discovery.ts  the scan: expand the patterns (`glob.ts`), stat the matches, order and open new ones
 *   identity.ts   fingerprints, the tail check, matching a file to an identity, `fresh` identities,
 *                 look-alikes, checking a held file for truncation
 *   follow.ts     finding a file renamed away from the patterns (or copytruncate's copy) while not
 *                 held: same directory, name starting with the old name's stem, identity decides
 *   started.ts    `start_at: end` made durable: the first start's positions in `<data_dir>/sources/`
 *   book.ts       the position book: positions of files not open, forgetting, idle-closed pins
 *   position.ts   the stored position format (encode/decode), fingerprint and tail-check hashes
 *   tailer.ts     one open file: handle, read offset, partial line, poll schedule, idle deadlines
 *   emitter.ts    batches to the queue, in flight up to a bound, with the positions riding along
 *                 (key upgrades, forgotten keys); a truncated file's orphaned partial line
 *   warnings.ts   problems with one path, reported once
 *   watch.ts      change notification (inotify via fs.watch) that wakes reads and scans early
 * Line framing (`../lines.ts`) and `SourceEmitError` (`../errors.ts`) are shared with stdin.
 * Time comes from a `Clock` (`now()`, monotonic, for every deadline: a wall-clock step never stalls
 * or hurries tailing), files from a `ReadFileSystem` (`src/core/ports.ts`).
 *
 * ## Loop
 * One task per source. Each round it reads (one `read_buffer_bytes` read into a reused scratch
 * buffer) from every file whose poll time has come, frames the complete lines (`../lines.ts`), and
 * hands them to `ctx.emit` without waiting, up to `max_batches_in_flight` batches in flight. A file
 * at EOF is polled again after 50 ms, backing off to 250 ms while it stays idle; after 5 s of
 * idleness only every `glob_interval_ms`, and the scan (which stats every file anyway) wakes it as
 * soon as its size grows. Every `glob_interval_ms` the patterns are re-expanded (the scan). On top
 * of that, with the real clock and file system, inotify (`fs.watch` on the directories of the open
 * files and of the patterns, `watch.ts`) makes a file due for a read the moment it is written, and
 * asks for a scan (at most one per 50 ms) when a matching name is created or renamed. Notifications
 * only hurry reads and scans; polling stays the reliable baseline and decides nothing differently.
 *
 * ## Identity (the fingerprint)
 * A file is identified by a hash of its first `L` bytes, `L = fingerprint_bytes` (256) — or the
 * whole file while it is shorter (the key is then upgraded as the file grows: the next batch carries
 * the old key with `null` and the new one). An empty file has no identity and is not opened until
 * it has bytes. While a file is open its inode is the identity at run time (an inode cannot be
 * reused while we hold it open), so a rename is seen as a rename. Across restarts and for files we
 * do not hold open only the fingerprint counts, so inode reuse cannot fool it.
 * A file found by a scan is matched against every identity its first bytes satisfy, longest
 * fingerprint first (`Identities.identify`), in two passes over the scan's new paths:
 *  - pass 1, a remembered position (not held by an open file): resume exactly there, if the file's
 *    bytes just before that offset are the ones read there (the tail check, `Identities.resumes`);
 *  - pass 2, for the files no position claimed:
 *    a file being read (another inode, same first bytes): the contents are compared (first 64 KiB).
 *    If the newcomer is no longer than it and equal, it is a copy (copytruncate's copy): it is not
 *    read while the original is — for the copy window, `max(rotate_wait_ms, 3 × glob_interval_ms)`.
 *    Still equal after it, with the original not truncated, it is a look-alike (a replica): read as
 *    a file of its own under `<fp>@<dev:ino>` (`Identities.lookalike`; `remembered` looks for that
 *    key first, so each replica resumes its own position after a restart). Two files held at the
 *    same time are never one file. When the original is truncated or let go, its
 *    position is released and the copy takes it over from that offset (so lines written between
 *    our last read and the truncation are read from the copy). If they differ (identical headers),
 *    the newcomer gets a longer fingerprint `L` = first differing byte + 1 and is read as a new file;
 *    otherwise a new file (`start_at: end` applies to files present at the first scan of the
 *    source's first start only (`started.ts`); files that appear later, or while the agent was
 *    stopped, are read from their beginning, so nothing written before we noticed is lost).
 *  - after both passes, positions no matching file resumed are looked for outside the patterns
 *    (`follow.ts`): a file renamed away while we did not hold it, or copytruncate's copy, is read
 *    to its end (resume only, never a new identity).
 *    A new file never takes the key of a remembered position (`Identities.fresh` lengthens `L`).
 *
 * ## Positions
 * Each batch carries `{ key: '<id>:<fp>', value: offset just after its last line + tail check }`
 * (plus `null`s for keys to forget). Offsets count file bytes; newlines the source adds (split
 * lines, flushed partial lines) are not in the file and do not move them. A stop abandons the
 * partial line in hand (not in the position), so the restart reads it whole. With `multiline` or
 * `decoding` (`../decode`), a tailer's `Assembler` keeps the pending event (and look-ahead lines, CRI
 * `P` pieces) in that same carry: the position stays at the event's first byte until it is emitted
 * whole, and `multiline.timeout` of quiet at EOF emits it (`Tailer.takePending`). Decoded events
 * of one read that would not fit one queue record are cut into several batches (`decodedCap`, from
 * `ctx.recordBytes`): the decode stops between lines, the carry keeps the rest, and
 * `Tailer.takeMore` makes the next batch before any read — each batch's position the one a read
 * ending there would give. The stored value
 * holds no time: how long a position has been remembered (`since`, for `forget_after_ms`) is kept
 * in memory on the monotonic clock and counts from the start after a restart.
 *
 * ## Idle files
 * A file matching the patterns that has not grown for `close_idle_ms` is closed (position kept,
 * never forgotten while the file is there) and reopened through the fingerprint when its size or
 * mtime changes; a position of a file gone for `forget_after_ms` is forgotten with a later batch.
 *
 * ## Rotation
 * Rename: the open file keeps being read through its fd; when it no longer matches the patterns (or
 * is deleted) it is read to its end and let go once it has not grown for `rotate_wait_ms` (its
 * partial last line, if any, emitted then: the only times a partial line is emitted are a finished
 * file and the opt-in `idle_flush_ms`). A file renamed away while not held is found by `follow.ts`.
 * Copytruncate: a size below our read offset, or bytes that are no longer the ones we read (the
 * fingerprint, and the tail check of the emitted offset; looked at by every scan and after every
 * read that returns data) mean the file was truncated: its identity is released at the emitted
 * offset for a copy to take over (with the half-read line, emitted after `rotate_wait_ms` if no copy
 * does) and reading restarts at 0 under a new identity.
 */
import { FileSource } from './source';
import type { FileSourceOptions } from './source';
import type { FileSourceConfig } from './config';

export { fileSourceSchema } from './config';
export type { FileSourceConfig, FileSourceConfigInput } from './config';
export { FileSource } from './source';
export { batchBound } from './emitter';
export type { FileSourceMetrics, FileSourceOptions } from './source';
export { GlobPatternError, PositionDecodeError } from './errors';
export { SourceEmitError } from '../errors';
export { Glob } from './glob';

/** Builds a file source from its parsed config (`fileSourceSchema.parse(...)`). */
export function createFileSource(config: FileSourceConfig, options: FileSourceOptions = {}): FileSource {
  return new FileSource(config, options);
}
