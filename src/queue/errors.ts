/**
 * Errors raised by the write-ahead queue. One class per failure kind, each with a stable `code`;
 * messages are one line naming the place (the queue directory, the consumer) and what to do.
 */

/** Another live process (or another open queue in this process) holds the directory's lock. */
export class QueueLockedError extends Error {
  readonly code = 'SLUICE_QUEUE_LOCKED';
  readonly dir: string;
  readonly pid: number;
  constructor(dir: string, pid: number, options?: { cause?: unknown }) {
    super(
      `queue directory ${dir} is locked by process ${pid}; stop that process or point this one at another directory`,
      options,
    );
    this.name = 'QueueLockedError';
    this.dir = dir;
    this.pid = pid;
  }
}

/** The queue was closed (or failed) before the operation could complete. */
export class QueueClosedError extends Error {
  readonly code = 'SLUICE_QUEUE_CLOSED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QueueClosedError';
  }
}

/** The caller gave the append up (its `signal` aborted) before any of it was written: nothing is stored. */
export class AppendAbortedError extends Error {
  readonly code = 'SLUICE_QUEUE_APPEND_ABORTED';
  constructor(dir: string) {
    super(`queue ${dir}: the append was given up before it was written; nothing of it is stored`);
    this.name = 'AppendAbortedError';
  }
}

/** A single append can never fit: larger than a segment or than the whole queue's bound. */
export class RecordTooLargeError extends Error {
  readonly code = 'SLUICE_QUEUE_RECORD_TOO_LARGE';
  readonly bytes: number;
  readonly limit: number;
  constructor(dir: string, bytes: number, limit: number, what: string) {
    super(
      `queue ${dir}: a record of ${bytes} bytes (framed) exceeds ${what} (${limit} bytes); split the batch or raise ${what}`,
    );
    this.name = 'RecordTooLargeError';
    this.bytes = bytes;
    this.limit = limit;
  }
}

/** A caller passed something the queue cannot accept (bad option, unknown consumer, bad ack). */
export class QueueUsageError extends Error {
  readonly code = 'SLUICE_QUEUE_USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'QueueUsageError';
  }
}

/** Reading or writing the queue's files failed; the queue stops accepting appends. */
export class QueueIoError extends Error {
  readonly code = 'SLUICE_QUEUE_IO';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QueueIoError';
  }
}
