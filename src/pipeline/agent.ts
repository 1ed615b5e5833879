/**
 * The agent: one queue in `<data_dir>/queue`, every configured source appending into it, one loop
 * per sink reading from it with its own cursor (consumer name = sink id).
 *
 * Life cycle (`run()` resolves to the process exit code):
 *
 *   running   sources emit → `queue.append` (resolves when durable) → sinks read, write, ack.
 *   stopping  entered when every source has ended (stdin EOF) or on the first stop request
 *             (SIGTERM/SIGINT). Sources are aborted and finish the batch in hand (it becomes durable
 *             or is abandoned without advancing its position). Then the agent learns the queue's head
 *             id (from its own last append, or by appending a `marker` record) and every sink drains
 *             up to it.
 *   closing   `queue.close()` persists every cursor and releases the lock; sinks close.
 *
 * Deadlines: after a stop request, sources + drain get `shutdown_timeout` in total; what is not
 * delivered by then stays in the queue (replayed, not duplicated, on the next start: only acked
 * records advance the cursor). A second stop request stops at once (same consistency). When the
 * sources ended by themselves the drain has no deadline while it makes progress; if no sink has
 * acknowledged anything for `shutdown_timeout` while one is failing, the agent gives up (exit 1,
 * the data stays queued).
 *
 * Guarantees: nothing is acked before it is written (and fdatasynced, for the file sink), so after
 * `kill -9` a restart replays what was not acknowledged; duplicates are bounded by what sinks wrote
 * since the queue last persisted their cursors (every `cursorFlushMs`, 1 s by default). After a
 * graceful stop that drained, nothing is delivered twice.
 */
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentConfig } from '../config/load';
import { openQueue } from '../queue';
import type { Queue } from '../queue/types';
import type { Sink, SinkContext } from '../core/sink';
import type { Diagnostics, Source, SourceBatch, SourceContext } from '../core/source';
import { errorText } from '../core/diagnostics';
import { encodeEnvelope } from '../core/envelope';
import { AgentMetrics } from './metrics';
import { DEFAULT_RETRY, SinkRunner } from './sink-runner';
import { startApi } from './api';
import type { Server } from 'node:http';

export type AgentConfigT = AgentConfig<Source, SinkContext, Sink>;

export interface AgentOptions {
  readonly config: AgentConfigT;
  readonly log: Diagnostics;
}

/** Exit codes (documented in docs/agent.md). */
export const EXIT = { ok: 0, failure: 1, usage: 2, locked: 3 } as const;

export class Agent {
  readonly metrics = new AgentMetrics();
  private readonly stopSources = new AbortController();
  private readonly hardStop = new AbortController();
  private stopRequests = 0;
  private lastNextId: number | undefined;
  private runners: SinkRunner[] = [];
  private sinks: { id: string; sink: Sink }[] = [];
  private resolveStop!: () => void;
  private readonly stopRequested = new Promise<void>((r) => (this.resolveStop = r));
  private resolveDeadline!: () => void;
  private readonly deadline = new Promise<void>((r) => (this.resolveDeadline = r));
  private deadlineTimer: NodeJS.Timeout | undefined;
  private phase: 'running' | 'stopping' | 'closing' = 'running';

  private constructor(
    private readonly config: AgentConfigT,
    private readonly log: Diagnostics,
    readonly queue: Queue,
  ) {}

  /** Opens the queue (this is where a second agent on the same data_dir is refused). */
  static async open(opts: AgentOptions): Promise<Agent> {
    const c = opts.config;
    const queue = await openQueue({
      dir: join(c.dataDir, 'queue'),
      consumers: c.sinks.map((s) => s.id),
      fsync: c.queue.fsync,
      maxBytes: c.queue.maxBytes,
      segmentBytes: c.queue.segmentBytes,
      ...(c.queue.cursorFlushMs !== undefined ? { cursorFlushMs: c.queue.cursorFlushMs } : {}),
    });
    for (const note of queue.recovery.notes) opts.log.warn(`queue: ${note}`);
    await warnIfDiskSmall(opts.log, c.dataDir, c.queue.maxBytes, queue.metrics().bytesOnDisk);
    return new Agent(c, opts.log, queue);
  }

  /**
   * First call: graceful stop (stop intake, drain up to `shutdown_timeout`). Second call: stop now.
   */
  requestStop(reason: string): void {
    this.stopRequests++;
    if (this.stopRequests === 1) {
      this.log.info(`${reason}: stopping intake and draining sinks (up to ${this.config.shutdownTimeoutMs}ms; again to stop at once)`);
      this.resolveStop();
      this.deadlineTimer = setTimeout(() => {
        this.log.warn(`shutdown_timeout (${this.config.shutdownTimeoutMs}ms) reached; undelivered records stay queued for the next start`);
        this.resolveDeadline();
      }, this.config.shutdownTimeoutMs);
      this.deadlineTimer.unref();
    } else if (this.stopRequests === 2) {
      this.log.warn(`${reason} again: stopping now; undelivered records stay queued for the next start`);
      this.resolveDeadline();
    }
  }

  /** SIGHUP: every sink reopens its destination before its next write. */
  reopenSinks(): void {
    for (const s of this.sinks) s.sink.reopen();
  }

  async run(): Promise<number> {
    let exitCode: number = EXIT.ok;
    const c = this.config;
    let api: Server | undefined;
    if (c.api) {
      try {
        api = await startApi({ ...c.api, metrics: this.metrics, queue: this.queue, log: this.log, phase: () => this.phase });
      } catch (err) {
        this.log.error(`${errorText(err)}; change api.address or free the port`);
        await this.queue.close();
        return EXIT.failure;
      }
    }

    for (const s of c.sinks) {
      const sink = s.create({ id: s.id, log: this.log });
      this.sinks.push({ id: s.id, sink });
      this.runners.push(
        new SinkRunner(s.id, new Set(s.inputs), sink, this.queue.consumer(s.id), this.log, this.metrics.sink(s.id), this.hardStop.signal, {
          ...DEFAULT_RETRY,
          capMs: s.maxBackoffMs ?? DEFAULT_RETRY.capMs,
        }),
      );
    }
    const sinkLoops = this.runners.map((r) =>
      r.run().catch((err: unknown) => {
        if (this.phase === 'closing') return; // a write that outlived the stop, acked too late
        exitCode = EXIT.failure;
        this.log.error(`sink ${r.id}: stopped: ${errorText(err)}`);
        // A sink that can no longer run would leave the agent up but not delivering: stop it
        // gracefully (exit 1) so a supervisor restarts it; the sink's data waits in the queue.
        this.requestStop(`sink ${r.id} failed`);
      }),
    );

    const positions = this.queue.positions();
    const sourceRuns = c.sources.map(async (s) => {
      try {
        const source = s.create();
        await source.run(this.sourceContext(s.id, positions));
        this.log.debug(`source ${s.id}: ended`);
      } catch (err) {
        if (this.stopSources.signal.aborted && this.phase !== 'running') return;
        exitCode = EXIT.failure;
        this.log.error(`source ${s.id}: failed: ${errorText(err)}`);
        // Same policy as a sink: do not stay up half-working; stop gracefully and exit 1.
        this.requestStop(`source ${s.id} failed`);
      }
    });
    const sourcesEnded = Promise.all(sourceRuns);
    this.log.info(
      `running: ${c.sources.length} source(s) (${c.sources.map((s) => `${s.id}:${s.type}`).join(', ')}), ` +
        `${c.sinks.length} sink(s) (${c.sinks.map((s) => `${s.id}:${s.type}`).join(', ')}), queue in ${join(c.dataDir, 'queue')}`,
    );

    const stats = setInterval(() => this.logStats(), STATS_EVERY_MS);
    stats.unref();
    const byStop = await Promise.race([sourcesEnded.then(() => false), this.stopRequested.then(() => true)]);
    this.phase = 'stopping';
    if (!byStop) this.log.info('every source has ended; draining sinks');
    this.stopSources.abort();

    let watchdog: NodeJS.Timeout | undefined;
    if (!byStop) {
      // No deadline while sinks make progress; give up when all progress stopped on a failing sink.
      watchdog = setInterval(() => {
        const now = Date.now();
        const stuck = this.runners.filter((r) => !r.drained && r.failing && now - r.lastProgress >= c.shutdownTimeoutMs);
        if (stuck.length > 0 && this.runners.every((r) => r.drained || now - r.lastProgress >= c.shutdownTimeoutMs)) {
          this.log.error(
            `sink(s) ${stuck.map((r) => r.id).join(', ')} made no progress for ${c.shutdownTimeoutMs}ms; ` +
              `giving up; their records stay queued for the next start`,
          );
          exitCode = EXIT.failure;
          this.resolveDeadline();
        }
      }, Math.min(1000, c.shutdownTimeoutMs));
      watchdog.unref();
    }

    let drained = false;
    const sourcesDone = await Promise.race([sourcesEnded.then(() => true), this.deadline.then(() => false)]);
    if (sourcesDone) {
      const head = await Promise.race([this.headId(), this.deadline.then(() => undefined)]);
      if (head !== undefined) {
        for (const r of this.runners) r.drainTo(head);
        drained = await Promise.race([Promise.all(sinkLoops).then(() => this.runners.every((r) => r.drained)), this.deadline.then(() => false)]);
      }
    }
    if (watchdog) clearInterval(watchdog);
    clearInterval(stats);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    if (!drained) {
      if (exitCode === EXIT.ok && this.stopRequests < 2 && byStop === false) exitCode = EXIT.failure;
      this.hardStop.abort();
      // A write in flight cannot be interrupted; give it a moment to finish so it is acked (not
      // replayed as a duplicate after the restart). No new write starts after the hard stop.
      await Promise.race([Promise.all(sinkLoops), delay(this.stopRequests >= 2 ? 300 : IN_FLIGHT_GRACE_MS)]);
    }
    if (this.stopRequests >= 2 && !drained) exitCode = EXIT.failure;

    this.phase = 'closing';
    if (api) {
      api.closeAllConnections();
      api.close();
    }
    await this.queue.close();
    for (const s of this.sinks) {
      await s.sink.close().catch((err: unknown) => this.log.warn(`sink ${s.id}: close failed: ${errorText(err)}`));
    }
    const summary = [...this.metrics.sinks].map(([id, m]) => `${id}=${m.events}`).join(' ');
    this.log.info(`stopped${drained ? ' (drained)' : ''}; events written: ${summary || 'none'}`);
    return exitCode;
  }

  /** Debug level: one line of counters and memory every few seconds. */
  private logStats(): void {
    let m: NodeJS.MemoryUsage;
    try {
      m = process.memoryUsage();
    } catch {
      return; // e.g. EMFILE (it reads /proc): skip this tick rather than crash the agent
    }
    const q = this.queue.metrics();
    const MB = (n: number): string => (n / 1048576).toFixed(1);
    const fields: Record<string, unknown> = {
      rss_mb: MB(m.rss),
      heap_mb: MB(m.heapUsed),
      buffers_mb: MB(m.arrayBuffers),
      queue_mb: MB(q.bytesOnDisk),
      queue_full: q.full,
    };
    for (const [id, c] of this.metrics.sources) fields[`in.${id}`] = c.events;
    for (const [id, c] of this.metrics.sinks) fields[`out.${id}`] = c.events;
    this.log.debug('stats', fields);
  }

  private sourceContext(id: string, positions: ReadonlyMap<string, Uint8Array>): SourceContext {
    const counters = this.metrics.source(id);
    return {
      id,
      positions,
      log: this.log,
      signal: this.stopSources.signal,
      emit: async (batch: SourceBatch): Promise<void> => {
        const payload = encodeEnvelope('lines', id, batch.origin, Date.now(), batch.lines);
        const r = await this.queue.append(
          payload,
          batch.positions ? { events: batch.events, positions: batch.positions } : { events: batch.events },
        );
        if (this.lastNextId === undefined || r.nextId > this.lastNextId) this.lastNextId = r.nextId;
        counters.events += batch.events;
        counters.bytes += batch.lines.length;
        counters.batches++;
      },
    };
  }

  /** The id every sink must reach to be drained: after our last append, or after a fresh marker. */
  private async headId(): Promise<number> {
    if (this.lastNextId !== undefined) return this.lastNextId;
    const r = await this.queue.append(encodeEnvelope('marker', '', undefined, Date.now(), Buffer.alloc(0)), { events: 1 });
    return r.nextId;
  }
}

/** After the drain deadline, how long a write already in flight may take to finish. */
const IN_FLIGHT_GRACE_MS = 2000;
const STATS_EVERY_MS = 5000;

/**
 * A queue that hits a full disk (ENOSPC) fails and stops the agent; it cannot wait for space the way
 * it waits at `max_bytes`. Say so at start when the disk cannot hold `max_bytes`.
 */
const warnIfDiskSmall = async (log: Diagnostics, dataDir: string, maxBytes: number, used: number): Promise<void> => {
  let room: number;
  try {
    const st = await statfs(dataDir);
    room = st.bavail * st.bsize + used;
  } catch {
    return; // no statfs here: nothing to say
  }
  if (room >= maxBytes) return;
  const MiB = (n: number): string => `${(n / 1048576).toFixed(1)}MiB`;
  log.warn(
    `queue.max_bytes (${MiB(maxBytes)}) is more than the disk of ${dataDir} can hold for the queue (${MiB(room)}): ` +
      `if that disk fills up the agent stops (exit 1) until space is freed; lower queue.max_bytes or give data_dir more room`,
  );
};

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());
