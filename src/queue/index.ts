/**
 * The write-ahead queue: open one with `openQueue`. The design (on-disk format, invariants, the
 * modules and the reader/writer contract, the recovery decision table) is in `./README.md`; the
 * table itself is data in `./recovery-table.ts`; the contract is `./types.ts`.
 */
import { openQueueWith } from './queue';
import { nodeFileSystem, systemClock } from '../core/node-ports';
import type { Clock, FileSystem } from '../core/ports';
import type { Queue, QueueOptions } from './types';

export type { Clock, FileHandle, FileStat, FileSystem, FsError, OpenMode, Timer } from '../core/ports';
export type {
  AppendOptions,
  AppendResult,
  Consumer,
  FsyncPolicy,
  Queue,
  QueueMetrics,
  QueueOptions,
  QueueEvent,
  QueueEventListener,
  QueueRecord,
  RecordId,
  RecoveryReport,
  SourcePosition,
} from './types';
export { asRecordId } from './types';
export { DEFAULT_CURSOR_FLUSH_MS } from './queue';
export { nodeFileSystem, systemClock } from '../core/node-ports';
export { AppendAbortedError, QueueClosedError, QueueIoError, QueueLockedError, QueueUsageError, RecordTooLargeError } from './errors';
/** A record's framing (length, CRC, id, …) on top of its payload and positions. */
export { FRAME_HEADER } from './format';

/**
 * Opens (creating or recovering) the queue in `opts.dir`, on the real disk unless `fs`/`clock` are
 * given (tests pass a simulated file system). Rejects with `QueueLockedError` if another live process
 * holds the directory. Damage found on disk never makes it fail: see `queue.recovery`.
 */
export function openQueue(opts: QueueOptions & { fs?: FileSystem; clock?: Clock }): Promise<Queue> {
  return openQueueWith(opts, opts.fs ?? nodeFileSystem, opts.clock ?? systemClock);
}
