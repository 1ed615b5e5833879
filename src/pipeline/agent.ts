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
 *
 * Reporting: everything the agent and its queue have to say is an `AgentEvent` on `agent.events`;
 * the stderr lines (`./report.ts`), the counters behind `/metrics` and `/health` (`./metrics.ts`)
 * are listeners on that one channel. Time, randomness and files come from the ports (`Clock`,
 * `Random`, `FileSystem`), the real ones unless the caller passes others.
 */
import { randomUUID } from 'node:crypto';
import { statfs } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BUILTIN_FILE, type AgentConfig, type ResolvedSource } from '../config/load';
import type { ComponentContext } from '../core/component';
import type { Diagnostics } from '../core/diagnostics';
import { ENVELOPE_HEADER_BYTES, encodeEnvelope } from '../core/envelope';

/** An envelope with no lines is its header alone (the lines are the rest of the payload). */
const NO_LINES = Buffer.alloc(0);
import { EventChannel, type AgentEvent } from '../core/events';
import { nodeFileSystem, nodeReadFileSystem, systemClock, systemRandom } from '../core/node-ports';
import type { Clock, FileSystem, Random, ReadFileSystem, Timer } from '../core/ports';
import type { Sink } from '../core/sink';
import type { EmitOptions, Source, SourceBatch, SourceContext } from '../core/source';
import { AppendAbortedError, DEFAULT_CURSOR_FLUSH_MS, FRAME_HEADER, openQueue, RecordTooLargeError } from '../queue';
import type { AppendResult, Queue } from '../queue/types';
import { AgentMetrics } from './metrics';
import { reportTo } from './report';
import { DEFAULT_DEAD_LETTER_MAX_BYTES, DeadLetterStore, deadLetterDir } from './dead-letter';
import { DEFAULT_DELIVERY, DEFAULT_RETRY, SinkRunner } from './sink-runner';
import { SAMPLE_EVERY_MS, StatusTracker } from './status';

export type AgentConfigT = AgentConfig;

export interface AgentPorts {
  readonly clock: Clock;
  readonly random: Random;
  readonly fs: FileSystem;
  readonly readFs: ReadFileSystem;
}

export interface AgentOptions {
  readonly config: AgentConfig;
  /** Where the agent's events are reported as lines (stderr in the CLI). */
  readonly log: Diagnostics;
  /** Real ones by default. */
  readonly ports?: Partial<AgentPorts>;
  /** Relative paths in component configs resolve against it (default: the process's cwd). */
  readonly cwd?: string;
  /**
   * Starts the HTTP API when the config has `api:` (the CLI passes `src/api`'s; the pipeline never
   * imports it). Without one, `api:` is ignored.
   */
  readonly startApi?: ApiStarter;
}

/** What the HTTP API reads: the agent's counters, its live status, the queue and its events. */
export interface ApiContext {
  readonly host: string;
  readonly port: number;
  readonly metrics: AgentMetrics;
  readonly status: StatusTracker;
  readonly queue: Queue;
  readonly events: EventChannel<AgentEvent>;
  /** 'running' | 'stopping' | 'closing' */
  readonly phase: () => string;
}

export interface ApiHandle {
  /** Stops serving (open connections are closed). */
  close(): void;
}

/** Resolves once listening; rejects (`agent.api-failed`, exit 1) when it cannot. */
export type ApiStarter = (ctx: ApiContext) => Promise<ApiHandle>;

/** Exit codes (documented in docs/agent.md). */
export const EXIT = { ok: 0, failure: 1, usage: 2, locked: 3 } as const;

export class Agent {
  readonly metrics = new AgentMetrics();
  /** Rates, backlogs and recent warnings, sampled once a second while running. */
  readonly status: StatusTracker;
  private readonly stopSources = new AbortController();
  private readonly hardStop = new AbortController();
  private stopRequests = 0;
  private lastNextId: number | undefined;
  private runners: SinkRunner[] = [];
  private sinks: { id: string; sink: Sink }[] = [];
  /** The running instance of each source (a restart replaces it): for SIGHUP. */
  private readonly liveSources = new Map<string, Source>();
  private resolveStop!: () => void;
  private readonly stopRequested = new Promise<void>((r) => (this.resolveStop = r));
  private resolveDeadline!: () => void;
  private readonly deadline = new Promise<void>((r) => (this.resolveDeadline = r));
  private deadlineTimer: Timer | undefined;
  private phase: 'running' | 'stopping' | 'closing' = 'running';
  /** The error of the first append the queue rejected (it is closed or failed): sources cannot go on. */
  private queueFailure: unknown;
  /** The error the queue reported failing with (`queue.failed`): already said, not repeated at close. */
  private queueFailed: unknown;

  private constructor(
    private readonly config: AgentConfig,
    private readonly log: Diagnostics,
    readonly queue: Queue,
    /** Every event the agent and its queue report; stderr lines and metrics listen here. */
    readonly events: EventChannel<AgentEvent>,
    private readonly ports: AgentPorts,
    private readonly cwd: string,
    private readonly startApi: ApiStarter | undefined,
    /** Created once, kept in `<data_dir>/agent_id`. */
    readonly agentId: string,
  ) {
    events.subscribe((e) => {
      this.metrics.observe(e);
      if (e.type === 'queue.failed' && this.queueFailed === undefined) {
        // Appends and reads reject from now on: stop in order (exit 1), for this reason, said once.
        this.queueFailed = e.error;
        if (this.stopRequests === 0) this.requestStop('the queue failed');
      }
    });
    this.status = new StatusTracker({
      clock: ports.clock,
      metrics: this.metrics,
      events,
      queue: { metrics: () => queue.metrics(), ackedUpTo: (sink) => queue.consumer(sink).ackedUpTo },
      maxBytes: config.queue.maxBytes,
      sources: config.sources.map((s) => ({ id: s.id, type: s.type })),
      sinks: config.sinks.map((s) => ({ id: s.id, type: s.type })),
    });
  }

  /** Opens the queue (this is where a second agent on the same data_dir is refused). */
  static async open(opts: AgentOptions): Promise<Agent> {
    const c = opts.config;
    const ports: AgentPorts = {
      clock: opts.ports?.clock ?? systemClock,
      random: opts.ports?.random ?? systemRandom,
      fs: opts.ports?.fs ?? nodeFileSystem,
      readFs: opts.ports?.readFs ?? nodeReadFileSystem,
    };
    const events = new EventChannel<AgentEvent>();
    events.subscribe(reportTo(opts.log));
    const queue = await openQueue({
      dir: join(c.dataDir, 'queue'),
      consumers: c.sinks.map((s) => s.id),
      fsync: c.queue.fsync,
      maxBytes: c.queue.maxBytes,
      segmentBytes: c.queue.segmentBytes,
      ...(c.queue.cursorFlushMs !== undefined ? { cursorFlushMs: c.queue.cursorFlushMs } : {}),
      onEvent: (e) => events.emit(e),
      fs: ports.fs,
      clock: ports.clock,
    });
    for (const note of queue.recovery.notes) events.emit({ type: 'queue.recovery-note', note });
    const small = await diskTooSmall(c.dataDir, c.queue.maxBytes, queue.metrics().bytesOnDisk);
    if (small !== undefined) events.emit({ type: 'queue.disk-small', dataDir: c.dataDir, maxBytes: c.queue.maxBytes, roomBytes: small });
    let agentId: string;
    try {
      agentId = await loadAgentId(ports.fs, c.dataDir);
    } catch (err) {
      await queue.close();
      throw err;
    }
    return new Agent(c, opts.log, queue, events, ports, opts.cwd ?? process.cwd(), opts.startApi, agentId);
  }

  /** What every component factory gets. */
  private componentContext(id: string): ComponentContext {
    return {
      id,
      log: this.log,
      clock: this.ports.clock,
      random: this.ports.random,
      fs: this.ports.fs,
      readFs: this.ports.readFs,
      cwd: this.cwd,
      agentId: this.agentId,
      dataDir: resolve(this.cwd, this.config.dataDir),
    };
  }

  /**
   * First call: graceful stop (stop intake, drain up to `shutdown_timeout`). Second call: stop now.
   */
  requestStop(reason: string): void {
    this.stopRequests++;
    if (this.stopRequests === 1) {
      this.events.emit({ type: 'agent.stopping', reason, timeoutMs: this.config.shutdownTimeoutMs });
      this.resolveStop();
      this.deadlineTimer = this.ports.clock.setTimer(this.config.shutdownTimeoutMs, () => {
        this.events.emit({ type: 'agent.drain-timeout', timeoutMs: this.config.shutdownTimeoutMs });
        this.resolveDeadline();
      });
    } else if (this.stopRequests === 2) {
      this.events.emit({ type: 'agent.stopping-now', reason });
      this.resolveDeadline();
    }
  }

  /**
   * SIGHUP: every sink reopens its destination before its next write, and every source that read
   * files at start (TLS certificates) reads them again (a source that cannot keeps what it had and
   * says so on stderr).
   */
  reopenSinks(): void {
    this.events.emit({ type: 'agent.reopen-sinks' });
    for (const s of this.sinks) s.sink.reopen();
    for (const source of this.liveSources.values()) void source.reload?.();
  }

  async run(): Promise<number> {
    let exitCode: number = EXIT.ok;
    const c = this.config;
    let api: ApiHandle | undefined;
    if (c.api && this.startApi) {
      try {
        api = await this.startApi({ ...c.api, metrics: this.metrics, status: this.status, queue: this.queue, events: this.events, phase: () => this.phase });
      } catch (error) {
        this.events.emit({ type: 'agent.api-failed', error });
        await this.queue.close();
        return EXIT.failure;
      }
    }

    this.warnUnacknowledgedInputs();
    for (const s of c.sinks) {
      const retry = { ...DEFAULT_RETRY, capMs: s.base.max_backoff ?? DEFAULT_RETRY.capMs };
      const timeoutMs = s.base.request?.timeout ?? DEFAULT_DELIVERY.timeoutMs;
      const replay = { maxBackoffMs: retry.capMs, timeoutMs, cursorFlushMs: c.queue.cursorFlushMs ?? DEFAULT_CURSOR_FLUSH_MS };
      const sink = s.create({ ...this.componentContext(s.id), replay });
      this.sinks.push({ id: s.id, sink });
      this.runners.push(
        new SinkRunner({
          id: s.id,
          inputs: new Set(s.base.inputs),
          sink,
          consumer: this.queue.consumer(s.id),
          events: this.events,
          counters: this.metrics.sink(s.id),
          hardStop: this.hardStop.signal,
          retry,
          delivery: {
            maxBytes: s.base.batch?.max_bytes ?? DEFAULT_DELIVERY.maxBytes,
            maxEvents: s.base.batch?.max_events ?? DEFAULT_DELIVERY.maxEvents,
            lingerMs: s.base.batch?.timeout ?? DEFAULT_DELIVERY.lingerMs,
            timeoutMs,
            concurrency: s.base.request?.concurrency ?? DEFAULT_DELIVERY.concurrency,
          },
          deadLetter: new DeadLetterStore(this.ports.fs, deadLetterDir(c.dataDir, s.id), s.id, s.base.dead_letter?.max_bytes ?? DEFAULT_DEAD_LETTER_MAX_BYTES),
          clock: this.ports.clock,
          random: this.ports.random,
        }),
      );
    }
    const sinkLoops = this.runners.map((r) =>
      r.run().catch((error: unknown) => {
        if (this.phase === 'closing') return; // a write that outlived the stop, acked too late
        exitCode = EXIT.failure;
        if (error === this.queueFailed) return; // its read rejected: the queue failed, and said so
        this.events.emit({ type: 'sink.stopped', sink: r.id, error });
        // A sink that can no longer run would leave the agent up but not delivering: stop it
        // gracefully (exit 1) so a supervisor restarts it; the sink's data waits in the queue.
        this.requestStop(`sink ${r.id} failed`);
      }),
    );

    const sourceRuns = c.sources.map(async (s) => {
      if (!(await this.superviseSource(s))) exitCode = EXIT.failure;
    });
    const sourcesEnded = Promise.all(sourceRuns);
    this.events.emit({
      type: 'agent.started',
      sources: c.sources.map((s) => ({ id: s.id, type: s.type })),
      sinks: c.sinks.map((s) => ({ id: s.id, type: s.type })),
      queueDir: join(c.dataDir, 'queue'),
    });

    const stats = this.every(STATS_EVERY_MS, () => this.logStats());
    const sampler = this.every(SAMPLE_EVERY_MS, () => this.status.sample());
    const byStop = await Promise.race([sourcesEnded.then(() => false), this.stopRequested.then(() => true)]);
    this.phase = 'stopping';
    if (!byStop) this.events.emit({ type: 'agent.sources-ended' });
    this.stopSources.abort();

    let watchdog: Timer | undefined;
    if (!byStop) {
      // No deadline while sinks make progress; give up when all progress stopped on a failing sink.
      watchdog = this.every(Math.min(1000, c.shutdownTimeoutMs), () => {
        const now = this.ports.clock.now();
        const stuck = this.runners.filter((r) => !r.drained && r.failing && now - r.lastProgress >= c.shutdownTimeoutMs);
        if (stuck.length > 0 && this.runners.every((r) => r.drained || now - r.lastProgress >= c.shutdownTimeoutMs)) {
          this.events.emit({ type: 'agent.drain-stuck', sinks: stuck.map((r) => r.id), timeoutMs: c.shutdownTimeoutMs });
          exitCode = EXIT.failure;
          this.resolveDeadline();
        }
      });
    }

    let drained = false;
    const sourcesDone = await Promise.race([sourcesEnded.then(() => true), this.deadline.then(() => false)]);
    if (sourcesDone) {
      // A failed queue takes no marker: then there is no head to drain to (sinks cannot read either).
      const head = await Promise.race([this.headId().catch(() => undefined), this.deadline.then(() => undefined)]);
      if (head !== undefined) {
        for (const r of this.runners) r.drainTo(head);
        drained = await Promise.race([Promise.all(sinkLoops).then(() => this.runners.every((r) => r.drained)), this.deadline.then(() => false)]);
      }
    }
    watchdog?.cancel();
    stats.cancel();
    sampler.cancel();
    this.deadlineTimer?.cancel();
    if (!drained) {
      if (exitCode === EXIT.ok && this.stopRequests < 2 && byStop === false) exitCode = EXIT.failure;
      this.hardStop.abort();
      // The hard stop aborts each write's signal: a sink that can interrupt its I/O (http) answers
      // errored at once and its group is replayed after the restart. A local write cannot be
      // interrupted; give it a moment to finish so it is acked (not replayed as a duplicate). No
      // new write starts after the hard stop.
      await Promise.race([Promise.all(sinkLoops), this.delay(this.stopRequests >= 2 ? 300 : IN_FLIGHT_GRACE_MS)]);
    }
    if (this.stopRequests >= 2 && !drained) exitCode = EXIT.failure;

    this.phase = 'closing';
    api?.close();
    // A queue that failed still closes as far as it can (cursors persisted, lock released) and then
    // rejects: the agent goes on closing its sinks and reports its stop all the same, exit 1.
    try {
      await this.queue.close();
    } catch (error) {
      exitCode = EXIT.failure;
      if (error !== this.queueFailed) this.events.emit({ type: 'agent.queue-close-failed', error });
    }
    for (const s of this.sinks) {
      await s.sink.close().catch((error: unknown) => this.events.emit({ type: 'sink.close-failed', sink: s.id, error }));
    }
    if (this.queueFailed !== undefined) exitCode = EXIT.failure;
    const written: Record<string, number> = {};
    for (const [id, m] of this.metrics.sinks) written[id] = m.events;
    this.events.emit({ type: 'agent.stopped', drained, written });
    return exitCode;
  }

  /**
   * Runs one source until it ends or intake stops. A source that throws (a bug, a poison input) is
   * restarted with capped exponential backoff and full jitter, from the last durable positions
   * (`queue.positions()`: nothing is skipped; what was in flight may be read again), while every
   * other source and sink keeps flowing. Only a failed queue (its append rejected: a write or fsync
   * error) stops the agent, since no restart can help then. Resolves false when the agent must exit 1.
   */
  private async superviseSource(s: ResolvedSource): Promise<boolean> {
    let attempt = 0;
    for (;;) {
      const started = this.ports.clock.now();
      try {
        const source = s.create(this.componentContext(s.id));
        this.liveSources.set(s.id, source);
        if (source.stats !== undefined) this.metrics.sourceStats.set(s.id, () => source.stats?.() ?? {});
        await source.run(this.sourceContext(s.id, this.queue.positions()));
        this.events.emit({ type: 'source.ended', source: s.id });
        return true;
      } catch (error) {
        if (this.stopSources.signal.aborted && this.phase !== 'running') return true;
        if (this.queueFailure !== undefined) {
          if (this.queueFailed !== undefined) return false; // the queue failed, said so and stops the agent
          this.events.emit({ type: 'source.failed', source: s.id, error });
          // The queue cannot take data any more: do not stay up half-working; stop gracefully, exit 1.
          this.requestStop(`source ${s.id} failed`);
          return false;
        }
        if (this.ports.clock.now() - started >= SOURCE_STABLE_MS) attempt = 0;
        attempt++;
        const retryInMs = Math.round(this.ports.random.next() * Math.min(SOURCE_RESTART_CAP_MS, SOURCE_RESTART_BASE_MS * 2 ** Math.min(attempt, 20)));
        this.events.emit({ type: 'source.restarting', source: s.id, attempt, retryInMs, error });
        // Kept alive: a source waiting to restart is work to do, the process must not end under it.
        await this.delay(retryInMs, this.stopSources.signal, true);
        if (this.stopSources.signal.aborted) return true;
      }
    }
  }

  /**
   * One start-up warning per sink fed by a source that cannot acknowledge (stdin). Not for the
   * built-in default, whose one line on stderr already says it reads stdin.
   */
  private warnUnacknowledgedInputs(): void {
    if (this.config.file === BUILTIN_FILE) return;
    const sources = new Map(this.config.sources.map((s) => [s.id, s]));
    for (const sink of this.config.sinks) {
      for (const input of sink.base.inputs) {
        const source = sources.get(input);
        if (source && !source.canAcknowledge) {
          this.events.emit({ type: 'agent.unacknowledged-input', sink: sink.id, source: source.id, sourceType: source.type });
        }
      }
    }
  }

  /** Runs `fn` every `ms` on the clock until the returned timer is cancelled. */
  private every(ms: number, fn: () => void): Timer {
    let current: Timer;
    const arm = (): void => {
      current = this.ports.clock.setTimer(ms, () => {
        fn();
        arm();
      });
    };
    arm();
    return { cancel: () => current.cancel() };
  }

  /** Waits `ms` (or until `signal` aborts); the timer keeps the process alive only with `keepAlive`. */
  private delay(ms: number, signal?: AbortSignal, keepAlive = false): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const t = this.ports.clock.setTimer(ms, done, { keepAlive });
      function done(): void {
        t.cancel();
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    });
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
    this.events.emit({ type: 'agent.stats', fields });
  }

  private sourceContext(id: string, positions: ReadonlyMap<string, Uint8Array>): SourceContext {
    const counters = this.metrics.source(id);
    return {
      id,
      positions,
      log: this.log,
      signal: this.stopSources.signal,
      full: () => this.queue.metrics().full,
      recordBytes: this.config.queue.segmentBytes - FRAME_HEADER - ENVELOPE_HEADER_BYTES - Buffer.byteLength(id),
      emit: async (batch: SourceBatch, opts?: EmitOptions): Promise<void> => {
        // The envelope's header and the lines as two parts: the queue copies them once, into its
        // reused memory, before append returns (so the source may reuse its read buffer at once).
        const header = encodeEnvelope(batch.format ?? 'lines', id, batch.origin, this.ports.clock.wall(), NO_LINES);
        let r: AppendResult;
        try {
          const signal = opts?.signal;
          r = await this.queue.append([header, batch.lines], {
            events: batch.events,
            ...(batch.positions ? { positions: batch.positions } : {}),
            ...(signal !== undefined ? { signal } : {}),
          });
        } catch (err) {
          // Given up by the source, or one batch too large for a record (nothing stored; the source
          // answers for it): the queue is fine and takes other appends.
          if (!(err instanceof AppendAbortedError) && !(err instanceof RecordTooLargeError)) this.queueFailure ??= err;
          throw err;
        }
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
    const r = await this.queue.append(encodeEnvelope('marker', '', undefined, this.ports.clock.wall(), Buffer.alloc(0)), { events: 1 });
    return r.nextId;
  }
}

/**
 * The agent's id (part of the http sink's idempotency keys): created once, on the first start, in
 * `<data_dir>/agent_id` (written, fdatasynced, renamed into place, directory fsynced), read after.
 */
export const loadAgentId = async (fs: FileSystem, dataDir: string): Promise<string> => {
  const path = join(dataDir, 'agent_id');
  if ((await fs.stat(path)) !== null) {
    const fh = await fs.open(path, 'read');
    try {
      const buf = Buffer.alloc(128);
      const n = await fh.read(buf, 0, buf.length, 0);
      const id = buf.toString('utf8', 0, n).trim();
      if (/^[A-Za-z0-9-]{8,64}$/.test(id)) return id;
    } finally {
      await fh.close();
    }
  }
  // First start, or a file cut short by a crash before its rename (then never used by a request).
  const id = randomUUID();
  const tmp = `${path}.tmp`;
  const fh = await fs.open(tmp, 'truncate');
  try {
    await fh.writev([Buffer.from(`${id}\n`)]);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, path);
  await fs.syncDir(dataDir);
  return id;
};

/** After the drain deadline, how long a write already in flight may take to finish. */
const IN_FLIGHT_GRACE_MS = 2000;
const STATS_EVERY_MS = 5000;
/** Restart backoff of a failed source: full jitter up to min(cap, base × 2^attempt). */
const SOURCE_RESTART_BASE_MS = 100;
const SOURCE_RESTART_CAP_MS = 30_000;
/** A source that ran this long before failing starts its backoff again from the first step. */
const SOURCE_STABLE_MS = 60_000;

/**
 * A queue that hits a full disk (ENOSPC) fails and stops the agent; it cannot wait for space the way
 * it waits at `max_bytes`. The room the disk has for the queue when that is less than `max_bytes`.
 */
const diskTooSmall = async (dataDir: string, maxBytes: number, used: number): Promise<number | undefined> => {
  let room: number;
  try {
    const st = await statfs(dataDir);
    room = st.bavail * st.bsize + used;
  } catch {
    return undefined; // no statfs here: nothing to say
  }
  return room >= maxBytes ? undefined : room;
};
