/**
 * The end-to-end simulation: the real agent (`src/pipeline/agent.ts`) — the real file source, the
 * real queue, the real sink runners and file sinks — runs on the simulated disk (`test/queue/sim-fs.ts`)
 * and its virtual clock, while another process on the simulated machine (the application) writes
 * log lines and rotates its file by rename. A seeded run is a sequence of boots; each boot ends in a
 * power loss, a `kill -9` (the page cache survives), or a graceful stop, at a random step or time.
 * A last boot lets the agent catch up and stops it gracefully. Then the README's guarantees table is
 * checked row by row on what the sinks wrote (`checkRun`), and a failure names the seed that replays it.
 *
 * The application's writes are durable as it makes them (`appendDurable`): what it loses in a power
 * loss is its own loss, not the agent's. So after the last boot every line it wrote must be in
 * every sink's output.
 *
 * What the sinks write is watched by a thin wrapper around the real file sink: it passes every call
 * through and notes, for each delivered group, the event id (record id + index) of each line. That
 * is how the checks know which queue record a line of the output came from, and so whether a
 * duplicate is one the guarantees allow: a record at or after the cursor a restart recovered.
 *
 * docs/testing.md ("The end-to-end simulation") describes the run, the checks and how to replay.
 */
import * as z from 'zod';
import { parseConfig } from '../../src/config/load';
import { defineSink, registryOf, type Registry } from '../../src/core/component';
import { createDiagnostics } from '../../src/core/diagnostics';
import type { Envelope } from '../../src/core/envelope';
import type { Sink, WriteResult } from '../../src/core/sink';
import { Agent } from '../../src/pipeline/agent';
import { createFileSink, fileSinkSchema } from '../../src/sinks/file';
import { sourceKinds } from '../../src/sources';
import { createRng, isSimCrash, SimClock, SimFileSystem, type CrashReport, type Rng } from '../queue/sim-fs';

// ---------------------------------------------------------------------------------------------
// The checks' one knob for the file sink's duplicates

/**
 * Whether the file sink is exactly once across crashes in this run: with one group in flight
 * (`request.concurrency: 1`, the default) its checkpoint, saved with its cursor, cuts its output
 * back on start. Not under `queue.fsync: never`: the queue hands out no checkpoint there (a power
 * loss can take records after the cursor out of the queue, so what the sink wrote for them must
 * stay), the sink cuts nothing, and a kill -9 repeats the group in flight (README's `kill -9` row,
 * `never` column); nor with more groups in flight (a group acked out of order can be written again).
 */
export const fileSinkExact = (c: Pick<E2eConfig, 'concurrency' | 'fsync'>): boolean => c.concurrency === 1 && c.fsync !== 'never';
/**
 * How many extra copies of a record the file sink may write after one crash, given the cursor the
 * restart recovered: none when it is exactly once (`fileSinkExact`), else one copy for every record
 * at or after that cursor.
 */
export const replaysAllowed = (recoveredCursor: number, eventId: number, exact: boolean): number => (!exact && recoveredCursor <= eventId ? 1 : 0);
/**
 * Whether a crash may leave torn bytes in the file sink's output that its replay then appends after:
 * a group cut short by kill -9 (Linux ends a write at a page when the process is killed; the sink
 * loops over short writes, and its undo dies with the process), or cut or zero-filled by a power
 * loss. When the sink is exactly once (`fileSinkExact`) its checkpoint cuts them away on start, so
 * never; under `fsync: never` nothing is cut; with more groups in flight a group acked out of order
 * can carry a checkpoint past another group's torn bytes.
 */
export const tornOutputAllowed = (exact: boolean): boolean => !exact;
/**
 * A known fault of the file sink with `request.concurrency` > 1: when a group's write fails, its
 * undo cuts the file back to the size it saw before its own write, which also cuts a group written
 * and acknowledged meanwhile (acked lines lost: seed 157 with
 * `SLUICE_E2E_CONFIG='{"faults":0.003,"concurrency":3}'`, seed 158 with `…"concurrency":2}'`; on a
 * real full disk, seeds 114 and 243 with `'{"diskFull":0.5,"concurrency":2}'`). While it is `true`, runs with injected
 * faults or a full disk keep one group in flight; set it to `false` once the undo cuts only its own bytes.
 */
export const FILE_SINK_UNDO_CUTS_OTHER_GROUPS = true;

// ---------------------------------------------------------------------------------------------
// A run's configuration

export interface E2eConfig {
  readonly fsync: 'always' | 'interval' | 'never';
  readonly fsyncIntervalMs: number;
  readonly cursorFlushMs: number;
  readonly segmentBytes: number;
  readonly maxBytes: number;
  readonly globIntervalMs: number;
  readonly rotateWaitMs: number;
  readonly readBufferBytes: number;
  readonly maxBatchesInFlight: number;
  /** Sink `batch.max_events`; 0: the default. */
  readonly sinkMaxEvents: number;
  readonly concurrency: number;
  /** A second file sink with `encoding: json` reading the same source. */
  readonly jsonSink: boolean;
  /** Lines the application writes in the whole run. */
  readonly lines: number;
  readonly lineBytes: readonly [min: number, max: number];
  readonly linesPerWrite: readonly [min: number, max: number];
  readonly writeEveryMs: number;
  /** Chance that a write of the application ends mid-line (the rest comes with the next write). */
  readonly partialWrites: number;
  /** Chance that the application rotates (rename to app.log.N) before a write. */
  readonly rotateChance: number;
  /**
   * The source's pattern: `/logs/*.log` (a rotated file no longer matches: found again by its
   * identity, `follow.ts`) or `/logs/app.log*` (rotated files still match). With `*.log` the
   * application rotates only a file the agent has delivered a line of: a file renamed away before
   * any agent saw it is out of every agent's reach.
   */
  readonly include: '/logs/*.log' | '/logs/app.log*';
  /** Boots before the last one. */
  readonly boots: number;
  /** How boots end: the weights of power loss, kill -9 and graceful stop. */
  readonly ends: { readonly power: number; readonly process: number; readonly graceful: number };
  /** A boot's length in virtual ms at most (a crash at a step may come first). */
  readonly bootMs: readonly [min: number, max: number];
  /** Chance that a boot ends at a random file system step rather than at a random time. */
  readonly atStep: number;
  /** Out-of-order writeback on power loss (`SimOptions.outOfOrder`) and its unit. */
  readonly outOfOrder: number;
  readonly pageBytes: number;
  readonly timedSteps: number;
  /**
   * Injected faults: each file system step of the agent fails with EIO, and each write with ENOSPC,
   * with this probability (0 in most runs; never in the last boot). An agent that exits 1 of it is
   * restarted, as a supervisor would.
   */
  readonly faults: number;
  /**
   * Chance, at each write of the application, that the sinks' outputs are rotated by rename
   * (`/out/<sink>.log` → `.log.N`); half of the time a SIGHUP follows (`reopenSinks`), else the sink
   * must notice by itself (device + inode).
   */
  readonly outputRotateChance: number;
  /**
   * Chance that a boot (not the last) starts on a disk with only 0–64 KiB free (`SimDisk.capacity`):
   * the queue, the sinks' outputs and the application's log share it. The next boot starts with the
   * space freed (an operator). 0 by default: `SLUICE_E2E_CONFIG='{"diskFull":0.5}'`.
   */
  readonly diskFull: number;
}

export function e2eConfigFor(seed: number, overrides: Partial<E2eConfig> = {}): E2eConfig {
  const r = createRng(seed ^ 0x5eed_e2e0);
  const fsync = r.chance(0.6) ? 'always' : r.chance(0.6) ? 'interval' : 'never';
  // A record is one read of the source (read_buffer_bytes, plus a partial line carried over) and must fit a segment.
  const segmentBytes = r.pick([8192, 16384]);
  const cfg: E2eConfig = {
    fsync,
    fsyncIntervalMs: r.range(5, 50),
    cursorFlushMs: r.pick([20, 100, 300, 1000]),
    segmentBytes,
    maxBytes: segmentBytes * r.range(3, 8),
    globIntervalMs: r.pick([50, 100, 250]),
    rotateWaitMs: r.pick([100, 300, 1000]),
    readBufferBytes: segmentBytes === 16384 ? r.pick([4096, 8192]) : 4096,
    maxBatchesInFlight: r.range(1, 4),
    sinkMaxEvents: r.chance(0.5) ? r.range(1, 40) : 0,
    concurrency: r.chance(0.7) ? 1 : r.range(2, 3),
    jsonSink: r.chance(0.5),
    lines: r.range(150, 700),
    lineBytes: r.chance(0.2) ? [20, 1500] : [20, 200],
    linesPerWrite: [1, r.range(2, 30)],
    writeEveryMs: r.pick([2, 10, 30]),
    partialWrites: r.chance(0.5) ? 0.2 : 0,
    rotateChance: r.pick([0, 0.02, 0.05]),
    include: r.chance(0.7) ? '/logs/*.log' : '/logs/app.log*',
    boots: r.range(2, 6),
    // fsync: never promises nothing against power loss: its runs only kill the process.
    ends: fsync === 'never' ? { power: 0, process: 3, graceful: 1 } : { power: 3, process: 3, graceful: 1 },
    bootMs: [20, r.pick([300, 1500])],
    atStep: 0.5,
    outOfOrder: r.chance(0.5) ? r.pick([0.3, 1]) : 0,
    // Whole pages (sector-sized units, 512, push on the queue's fixed finding F-OOO: test/queue/FINDINGS.md).
    pageBytes: 4096,
    timedSteps: r.pick([0.1, 0.3]),
    // Drawn last, so the draws above stay what they were for every seed.
    faults: r.chance(0.2) ? r.pick([0.001, 0.003]) : 0,
    outputRotateChance: r.chance(0.3) ? 0.01 : 0,
    diskFull: 0,
  };
  const merged = { ...cfg, ...overrides };
  // (An explicit concurrency in the overrides wins: that is how the known fault is replayed.)
  if (FILE_SINK_UNDO_CUTS_OTHER_GROUPS && (merged.faults > 0 || merged.diskFull > 0) && overrides.concurrency === undefined) return { ...merged, concurrency: 1 };
  return merged;
}

const configYaml = (c: E2eConfig): string => {
  const sink = (id: string, encoding: string): string =>
    `  ${id}:\n    type: file\n    inputs: [app]\n    path: /out/${id}.log\n    encoding: ${encoding}\n` +
    (c.sinkMaxEvents > 0 ? `    batch: { max_events: ${c.sinkMaxEvents} }\n` : '') +
    (c.concurrency > 1 ? `    request: { concurrency: ${c.concurrency} }\n` : '') +
    // Retries come quickly in virtual time: a sink that failed (an I/O error) tries again soon.
    `    max_backoff: 200ms\n`;
  return (
    `data_dir: /data\n` +
    `queue:\n  fsync: ${c.fsync}\n` +
    (c.fsync === 'interval' ? `  fsync_interval_ms: ${c.fsyncIntervalMs}\n` : '') +
    `  cursor_flush_interval: ${c.cursorFlushMs}ms\n` +
    `sources:\n  app:\n    type: file\n    include: ["${c.include}"]\n` +
    `    glob_interval_ms: ${c.globIntervalMs}\n    rotate_wait_ms: ${c.rotateWaitMs}\n` +
    `    read_buffer_bytes: ${c.readBufferBytes}\n    max_batches_in_flight: ${c.maxBatchesInFlight}\n` +
    `sinks:\n` +
    sink('text', 'text') +
    (c.jsonSink ? sink('json', 'json') : '')
  );
};

// ---------------------------------------------------------------------------------------------
// The application: writes numbered lines to /logs/app.log, rotates it to app.log.N by rename

/** A line's text (without its newline): `<serial|file|padding>`, so a line glued to torn bytes can still be recognised. */
const lineText = (serial: number, file: number, bytes: number, rng: Rng): string => {
  const head = `<${String(serial).padStart(7, '0')}|f${file}|`;
  let pad = '';
  for (let i = head.length + 1; i < bytes; i++) pad += String.fromCharCode(97 + rng.int(26));
  return `${head}${pad}>`;
};

class Application {
  /** Every complete line written, in order, with the file it went to. */
  readonly lines: string[] = [];
  private serial = 0;
  private file = 0;
  /** The rest of a line written only in part. */
  private pendingRest: string | null = null;
  rotations = 0;

  constructor(
    private readonly rng: Rng,
    private readonly cfg: E2eConfig,
    /** Whether the agent has delivered a line of file number `n` (so it knows the file). */
    private readonly known: (n: number) => boolean,
  ) {}

  get done(): boolean {
    return this.serial >= this.cfg.lines && this.pendingRest === null;
  }

  /** One write (maybe after a rotation); returns what it did, for the trace. */
  write(fs: SimFileSystem): string {
    if (this.done) return 'idle';
    let note = '';
    const rotate = this.rng.chance(this.cfg.rotateChance);
    if (rotate && this.pendingRest === null && fs.sizeOf('/logs/app.log') !== null && (this.cfg.include !== '/logs/*.log' || this.known(this.file))) {
      this.rotations++;
      fs.renameDurable('/logs/app.log', `/logs/app.log.${this.rotations}`);
      this.file++;
      note = `rotate -> app.log.${this.rotations}; `;
    }
    let text = this.pendingRest ?? '';
    this.pendingRest = null;
    const first = this.serial;
    const n = Math.min(this.rng.range(this.cfg.linesPerWrite[0], this.cfg.linesPerWrite[1]), this.cfg.lines - this.serial);
    for (let i = 0; i < n; i++) {
      const line = lineText(this.serial++, this.file, this.rng.range(this.cfg.lineBytes[0], this.cfg.lineBytes[1]), this.rng);
      this.lines.push(line);
      text += `${line}\n`;
    }
    if (n > 0 && this.serial < this.cfg.lines && this.rng.chance(this.cfg.partialWrites)) {
      const cut = this.rng.range(1, text.length - 1);
      this.pendingRest = text.slice(cut);
      text = text.slice(0, cut);
    }
    if (text.length > 0) fs.appendDurable('/logs/app.log', Buffer.from(text));
    return `${note}write L${first}..L${this.serial - 1}${this.pendingRest !== null ? ' (last one in part)' : ''}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Watching what the sinks deliver

/** What one sink reported delivered: each line's event ids (more than one: the source emitted it twice). */
class Delivered {
  readonly ids = new Map<string, number[]>();
  /** Each delivered group: the boot, the id after its last event, and when (the boot's virtual ms). */
  readonly groups: { readonly boot: number; readonly end: number; readonly at: number }[] = [];
  boot = 0;
  /** File numbers (`|fN|`) of the lines delivered. */
  readonly files = new Set<number>();

  note(batches: readonly Envelope[], at: number): void {
    let end = 0;
    for (const b of batches) end = Math.max(end, b.recordId + b.events);
    this.groups.push({ boot: this.boot, end, at });
    for (const b of batches) {
      const text = b.lines.toString('utf8');
      let i = 0;
      for (const line of text.split('\n')) {
        if (line === '' && i === b.events) break;
        const id = b.recordId + i++;
        const ids = this.ids.get(line);
        if (ids === undefined) {
          this.ids.set(line, [id]);
          this.files.add(Number(/\|f(\d+)\|/.exec(line)?.[1] ?? -1));
        }
        else if (!ids.includes(id)) ids.push(id);
      }
    }
  }
}

const watchedRegistry = (delivered: Map<string, Delivered>): Registry => ({
  sources: sourceKinds,
  sinks: registryOf([
    defineSink({
      type: 'file',
      schema: fileSinkSchema,
      canAcknowledge: true,
      create: (config, ctx): Sink => {
        const real = createFileSink(config, ctx);
        let d = delivered.get(ctx.id);
        if (d === undefined) delivered.set(ctx.id, (d = new Delivered()));
        const seen = d;
        // Every method of the contract is passed on: a wrapper without `resume` and `prepare` would
        // leave the real sink's checkpoint unused (its output never cut back on start), and the run
        // would test a sink that is not the one the agent has.
        return {
          resume: (checkpoint, opts) => real.resume?.(checkpoint, opts) ?? Promise.resolve(null),
          prepare: () => real.prepare?.() ?? Promise.resolve(null),
          async write(batches, opts): Promise<WriteResult> {
            const r = await real.write(batches, opts);
            if (r.status === 'delivered') seen.note(batches, ctx.clock.now());
            return r;
          },
          reopen: () => real.reopen(),
          close: () => real.close(),
        };
      },
    }),
  ]),
});

// ---------------------------------------------------------------------------------------------
// One run

export interface E2eStats {
  boots: number;
  powerLosses: number;
  kills: number;
  gracefulStops: number;
  crashesInOpen: number;
  /** Restarts after the agent stopped of an injected fault or a full disk (exit 1) or could not open. */
  faultRestarts: number;
  lines: number;
  rotations: number;
  /** Extra copies of lines in the outputs (all sinks). */
  duplicates: number;
  /** Lines of the outputs that are torn bytes (a cut line, zeros) left by a power loss. */
  tornLines: number;
  /** Lines present only glued after torn bytes. */
  gluedLines: number;
  /** Files a power loss treated page by page (out-of-order writeback). */
  scattered: number;
  /** Boots started on a nearly full disk (`diskFull`). */
  diskFullBoots: number;
  /** Rotations of the sinks' outputs (by rename; half of them followed by SIGHUP). */
  outputRotations: number;
  /** Starts at which a file sink cut its output back to the checkpoint saved with its cursor. */
  cuts: number;
}

export const emptyE2eStats = (): E2eStats => ({
  boots: 0,
  powerLosses: 0,
  kills: 0,
  gracefulStops: 0,
  crashesInOpen: 0,
  faultRestarts: 0,
  lines: 0,
  rotations: 0,
  duplicates: 0,
  tornLines: 0,
  gluedLines: 0,
  scattered: 0,
  diskFullBoots: 0,
  outputRotations: 0,
  cuts: 0,
});

export interface E2eResult {
  readonly seed: number;
  readonly config: E2eConfig;
  /** What the caller overrode (`SLUICE_E2E_CONFIG`): part of the replay command. */
  readonly overrides: Partial<E2eConfig>;
  readonly failure: string | null;
  readonly stats: E2eStats;
  /** What happened, one line per event of the run. */
  readonly trace: readonly string[];
  /** The agent's own diagnostics (its stderr), every boot. */
  readonly diagnostics: readonly string[];
}

/** How a boot began: after which kind of end of the previous one, and the cursors its queue recovered. */
interface Boot {
  /** `failure`: the agent stopped of an injected fault (exit 1) or could not open; a supervisor restarted it. */
  readonly after: 'first' | 'power' | 'process' | 'graceful' | 'failure';
  readonly cursors: ReadonlyMap<string, number>;
}

type End = 'power' | 'process' | 'graceful';

export async function runE2e(seed: number, overrides: Partial<E2eConfig> = {}): Promise<E2eResult> {
  const cfg = e2eConfigFor(seed, overrides);
  const rng = createRng(seed);
  const appRng = rng.fork();
  const trace: string[] = [];
  const diagnostics: string[] = [];
  const stats = emptyE2eStats();
  const delivered = new Map<string, Delivered>();
  const app = new Application(appRng, cfg, (n) => [...delivered.values()].some((d) => d.files.has(n)));
  const registry = watchedRegistry(delivered);
  const sinks = cfg.jsonSink ? ['text', 'json'] : ['text'];
  const parsed = parseConfig(configYaml(cfg), 'e2e.yaml', registry, {});
  // Segments of a few KiB (below what a config may say: 16MiB at least), so a run rolls, deletes and fills them.
  const config = { ...parsed, queue: { ...parsed.queue, segmentBytes: cfg.segmentBytes, maxBytes: cfg.maxBytes } };
  const boots: Boot[] = [];
  /** Sink outputs a power loss wrote back out of order: a later line may be there without an earlier one. */
  const scatteredOutputs = new Set<string>();
  /** Output rotations so far (their own random stream: the other draws of a seed stay what they were). */
  const outRng = createRng((seed ^ 0x7e57_0a7e) >>> 0);
  let outputRotations = 0;

  let clock = new SimClock(0);
  const faults = cfg.faults > 0 && cfg.boots > 0 ? { faults: { eio: cfg.faults, enospc: cfg.faults } } : {};
  let fs = new SimFileSystem({ seed, clock, timedSteps: cfg.timedSteps, maxLatencyMs: 3, outOfOrder: cfg.outOfOrder, pageBytes: cfg.pageBytes, ...faults });
  fs.mkdirDurable('/logs');
  let after: Boot['after'] = 'first';
  /** The last boot ended in kill -9 at this virtual time: the next open's cursors are checked against its deliveries. */
  let killed: { readonly boot: number; readonly at: number } | null = null;
  let failure: string | null = null;
  const note = (what: string): void => {
    trace.push(`[boot ${stats.boots} t=${clock.now()} step=${fs.steps}] ${what}`);
  };
  const crashNote = (r: CrashReport | null): void => {
    if (r === null) return;
    const files = [...r.files].map(([p, f]) => `${p} ${f}`).join(', ');
    const dirs = [...r.dirs].map(([p, [k, of]]) => `${p} ${k}/${of}`).join(', ');
    for (const [p, f] of r.files) {
      if (f !== 'scattered') continue;
      stats.scattered++;
      if (p.startsWith('/out/')) scatteredOutputs.add(p);
    }
    note(`${r.kind === 'power' ? 'power loss' : 'kill -9'} at step ${r.atStep}${files ? `; files: ${files}` : ''}${dirs ? `; dir entries kept: ${dirs}` : ''}`);
  };

  for (let b = 0; b <= cfg.boots && failure === null; b++) {
    const last = b === cfg.boots;
    stats.boots++;
    const bootNo = stats.boots;
    for (const d of delivered.values()) d.boot = bootNo;
    const log = createDiagnostics({
      level: 'info',
      write: (l) => {
        if (/ cut \d+ bytes off the end of /.test(l)) stats.cuts++;
        diagnostics.push(`[boot ${bootNo}] ${l.trimEnd()}`);
      },
      now: () => clock.wall(),
    });
    const random = rng.fork();
    const endKind: End = last ? 'graceful' : pickEnd(rng, cfg);
    const endMs = rng.range(cfg.bootMs[0], cfg.bootMs[1]);
    const endStep = !last && endKind !== 'graceful' && rng.chance(cfg.atStep) ? fs.steps + rng.range(1, 600) : 0;
    if (endStep > 0) fs.crashAt(endStep, endKind === 'process' ? 'process' : 'power');
    fs.disk.capacity = null;
    // Not on the first start: files the agent creates once (agent_id, cursors) need space then.
    const diskFull = b > 0 && !last && cfg.diskFull > 0 && outRng.chance(cfg.diskFull);
    if (diskFull) {
      stats.diskFullBoots++;
      fs.disk.capacity = fs.disk.used() + outRng.int(17) * 4096;
      note(`the disk is nearly full: ${fs.disk.free()} bytes free`);
    }
    note(`start after ${after}; ends ${last ? 'when every line is delivered (graceful)' : `${endStep > 0 ? `at step ${endStep} or ` : 'at '}${endMs} ms (${endKind})`}`);

    const opened = await clock.runUntil(Agent.open({ config, log, ports: { clock, random, fs, readFs: fs.readView() }, cwd: '/' }), {
      maxMs: 60_000,
      stop: () => fs.crashed,
      settleRealIo: true,
    });
    if (opened.status !== 'resolved') {
      // A crash before the queue recovered: the cursors the next boot finds may be older (a power loss).
      killed = null;
      if (fs.crashed || (opened.status === 'rejected' && isSimCrash(opened.error))) {
        stats.crashesInOpen++;
        crashNote(fs.lastCrash);
        after = fs.lastCrash?.kind ?? 'power';
        if (after === 'power') stats.powerLosses++;
        else stats.kills++;
        ({ clock, fs } = restart(fs, clock, app, rng, note, b + 1 === cfg.boots));
        continue;
      }
      if (opened.status === 'rejected' && (cfg.faults > 0 || diskFull) && !last) {
        note(`the agent did not open (${outcomeText(opened)}): restarted`);
        stats.faultRestarts++;
        after = 'failure';
        ({ clock, fs } = restart(fs, clock, app, rng, note, b + 1 === cfg.boots));
        continue;
      }
      failure = `boot ${stats.boots}: the agent did not open (${outcomeText(opened)})`;
      break;
    }
    const agent = opened.value;
    const cursors = new Map(sinks.map((s) => [s, agent.queue.consumer(s).ackedUpTo]));
    boots.push({ after, cursors });
    if (killed !== null) failure ??= checkKillBound(killed, cursors, delivered, cfg);
    killed = null;
    note(`opened; cursors ${[...cursors].map(([s, c]) => `${s}=${c}`).join(' ')}`);

    // The application writes while the agent runs.
    const bootFs = fs;
    const bootClock = clock;
    const writeLoop = (): void => {
      if (bootFs.crashed) return;
      if (!app.done) note(`app: ${app.write(bootFs)}`);
      if (cfg.outputRotateChance > 0 && outRng.chance(cfg.outputRotateChance)) {
        outputRotations++;
        for (const s of sinks) if (bootFs.sizeOf(`/out/${s}.log`) !== null) bootFs.renameDurable(`/out/${s}.log`, `/out/${s}.log.${outputRotations}`);
        const hup = outRng.chance(0.5);
        note(`logrotate: outputs -> .log.${outputRotations}${hup ? ', SIGHUP' : ' (no SIGHUP)'}`);
        if (hup) agent.reopenSinks();
      }
      bootClock.setTimer(cfg.writeEveryMs, writeLoop);
    };
    bootClock.setTimer(0, writeLoop);
    let stopAsked = false;
    if (last) {
      // Stop once every line is delivered to every sink (or the time is up: the checks then say what is missing).
      const watch = (): void => {
        const all = app.done && sinks.every((s) => (delivered.get(s)?.ids.size ?? 0) >= app.lines.length);
        if (all || bootClock.now() > 600_000) {
          note(all ? 'every line delivered: graceful stop' : 'time is up: graceful stop');
          stopAsked = true;
          agent.requestStop('end of the run');
          return;
        }
        bootClock.setTimer(100, watch);
      };
      bootClock.setTimer(100, watch);
    } else {
      bootClock.setTimer(endMs, () => {
        if (bootFs.crashed) return;
        if (endKind === 'graceful') {
          note('graceful stop (SIGTERM)');
          stopAsked = true;
          agent.requestStop('SIGTERM');
        } else bootFs.crash({ kind: endKind });
      });
    }
    const ran = await clock.runUntil(agent.run(), { maxMs: last ? 900_000 : 120_000, maxTimers: 2_000_000, stop: () => fs.crashed, settleRealIo: true });
    for (const e of clock.errors) failure ??= `a timer callback threw: ${String(e)}`;
    if (fs.crashed) {
      crashNote(fs.lastCrash);
      after = fs.lastCrash?.kind ?? 'power';
      if (after === 'process') killed = { boot: bootNo, at: clock.now() };
      if (after === 'power') stats.powerLosses++;
      else stats.kills++;
      ({ clock, fs } = restart(fs, clock, app, rng, note, b + 1 === cfg.boots));
      continue;
    }
    // A queue that failed of an injected fault stops the agent in order and `run()` resolves 1 (below);
    // it never rejects.
    if (ran.status !== 'resolved') {
      failure ??= `boot ${stats.boots}: the agent's run did not end (${outcomeText(ran)})${stopAsked ? ' after a stop request' : ''}`;
      break;
    }
    note(`agent exited ${ran.value}`);
    if (ran.value !== 0 && (cfg.faults > 0 || diskFull) && !last) {
      // An injected fault stopped it (a queue I/O error exits 1): the supervisor restarts it.
      stats.faultRestarts++;
      after = 'failure';
      ({ clock, fs } = restart(fs, clock, app, rng, note, b + 1 === cfg.boots));
      continue;
    }
    if (ran.value !== 0) {
      failure ??= `boot ${stats.boots}: a graceful stop exited ${ran.value}, not 0`;
      break;
    }
    stats.gracefulStops++;
    after = 'graceful';
    if (!last) ({ clock, fs } = restart(fs, clock, app, rng, note, b + 1 === cfg.boots));
  }

  stats.lines = app.lines.length;
  stats.rotations = app.rotations;
  stats.outputRotations = outputRotations;
  if (failure === null) failure = checkRun(fs, app.lines, sinks, delivered, boots, stats, cfg, scatteredOutputs, outputRotations);
  return { seed, config: cfg, overrides, failure, stats, trace, diagnostics };
}

/** Slack on top of the cursor flush interval: the persist itself takes a few steps of virtual time. */
const FLUSH_SLACK_MS = 50;

/**
 * README's kill -9 row: duplicates are bounded by one cursor-flush interval of deliveries. With one
 * group in flight (acks in order), every group delivered more than `cursor_flush_interval` (plus
 * slack) before the kill must be below the cursor the restart recovered.
 */
const checkKillBound = (killed: { readonly boot: number; readonly at: number }, cursors: ReadonlyMap<string, number>, delivered: ReadonlyMap<string, Delivered>, cfg: E2eConfig): string | null => {
  if (cfg.concurrency > 1) return null;
  for (const [sink, d] of delivered) {
    const cursor = cursors.get(sink) ?? 0;
    for (const g of d.groups) {
      if (g.boot !== killed.boot || g.at > killed.at - cfg.cursorFlushMs - FLUSH_SLACK_MS) continue;
      if (g.end > cursor) {
        return `sink ${sink}: kill -9 at ${killed.at} ms replays more than one cursor flush interval (${cfg.cursorFlushMs} ms): a group up to event ${g.end - 1} was delivered at ${g.at} ms, but the restart resumed at ${cursor}`;
      }
    }
  }
  return null;
};

const pickEnd = (rng: Rng, cfg: E2eConfig): End => {
  const { power, process, graceful } = cfg.ends;
  const r = rng.next() * (power + process + graceful);
  return r < power ? 'power' : r < power + process ? 'process' : 'graceful';
};

/** The next boot, after the application wrote a little more (and maybe rotated) while the agent was down. */
const restart = (fs: SimFileSystem, clock: SimClock, app: Application, rng: Rng, note: (s: string) => void, last: boolean): { clock: SimClock; fs: SimFileSystem } => {
  const next = new SimClock(clock.now() + 1000);
  // The last boot has no injected faults: it must be able to deliver everything.
  const nextFs = fs.reboot({ clock: next, ...(last ? { faults: {} } : {}) });
  for (let i = rng.range(0, 3); i > 0; i--) note(`app while the agent is down: ${app.write(nextFs)}`);
  return { clock: next, fs: nextFs };
};

const outcomeText = (o: { status: string; error?: unknown }): string =>
  o.status === 'rejected' ? `rejected: ${o.error instanceof Error ? o.error.message : String(o.error)}` : o.status;

// ---------------------------------------------------------------------------------------------
// The checks: README's guarantees table, row by row

/**
 * After the last (graceful) boot:
 * - nothing lost (every row): every line the application wrote is in every sink's output, whole;
 * - the file source reads each line once (positions ride with the data): each line was delivered
 *   under one event id only, and each file's lines came out in order;
 * - duplicates: a line appears once, plus what `replaysAllowed` grants for each restart after a
 *   crash (kill -9, power loss) whose recovered cursor was at or below its event id; a graceful
 *   stop grants nothing (exactly once);
 * - no invented bytes: an output line that is not a line written is torn bytes a crash left
 *   (`tornOutputAllowed`), never anything when every stop was graceful.
 */
export function checkRun(fs: SimFileSystem, written: readonly string[], sinks: readonly string[], delivered: ReadonlyMap<string, Delivered>, boots: readonly Boot[], stats: E2eStats, cfg: Pick<E2eConfig, 'concurrency' | 'fsync'>, scatteredOutputs: ReadonlySet<string>, outputRotations = 0): string | null {
  const { concurrency } = cfg;
  const exact = fileSinkExact(cfg);
  const known = new Set(written);
  const crashed = boots.some((b) => b.after === 'power' || b.after === 'process' || b.after === 'failure');
  for (const sink of sinks) {
    // The rotated outputs in order, then the current one.
    const files: string[] = [];
    for (let n = 1; n <= outputRotations; n++) files.push(`/out/${sink}.log.${n}`);
    files.push(`/out/${sink}.log`);
    const d = delivered.get(sink);
    const current = fs.peek(`/out/${sink}.log`);
    const contents = files.map((f) => fs.peek(f)).filter((b): b is Buffer => b !== null);
    if (contents.length === 0 || d === undefined) return written.length === 0 ? null : `sink ${sink}: no output at all`;
    const counts = new Map<string, number>();
    const glued = new Map<string, number>();
    let torn = 0;
    let firstTorn: string | undefined;
    if (current !== null && current.length > 0 && current[current.length - 1] !== 0x0a) {
      return `sink ${sink}: the output ends in a partial line after a graceful stop: ${JSON.stringify(current.toString('utf8').slice(-80))}`;
    }
    // Rows of every file (a rotated file may end in torn bytes without a newline: a row of its own).
    const rows: string[] = [];
    for (const c of contents) {
      const r = c.toString('utf8').split('\n');
      if (r[r.length - 1] === '') r.pop();
      rows.push(...r);
    }
    for (const row of rows) {
      const line = sink === 'json' ? jsonMessage(row) : row;
      if (line !== null && known.has(line)) {
        counts.set(line, (counts.get(line) ?? 0) + 1);
        continue;
      }
      torn++;
      firstTorn ??= row;
      // Torn bytes followed by a whole line that the replay appended after them.
      const tail = sink === 'json' ? jsonMessage(row.slice(row.lastIndexOf('{"message":'))) : row.slice(row.lastIndexOf('<'));
      if (tail !== null && known.has(tail)) glued.set(tail, (glued.get(tail) ?? 0) + 1);
    }
    stats.tornLines += torn;
    if (torn > 0 && !(crashed && tornOutputAllowed(exact))) {
      return `sink ${sink}: ${torn} line(s) of the output are not lines the application wrote (${crashed ? 'torn by a crash' : 'no crash happened'}), first: ${JSON.stringify(firstTorn?.slice(0, 120))}`;
    }
    const lastSerialOfFile = new Map<string, number>();
    const firstSeen: string[] = [];
    const seenOnce = new Set<string>();
    for (const row of rows) {
      const line = sink === 'json' ? jsonMessage(row) : row;
      if (line === null || !known.has(line) || seenOnce.has(line)) continue;
      seenOnce.add(line);
      firstSeen.push(line);
    }
    // With more than one group in flight a sink's groups may land in any order (request.concurrency);
    // an output written back out of order by a power loss may hold a later line of the group it
    // tore without an earlier one, which the replay then appends after it (torn output, allowed for now).
    const unordered = concurrency > 1 || (tornOutputAllowed(exact) && [...scatteredOutputs].some((p) => p.startsWith(`/out/${sink}.log`)));
    for (const line of unordered ? [] : firstSeen) {
      const file = line.slice(9, line.indexOf('|', 9));
      const serial = Number(line.slice(1, 8));
      const prev = lastSerialOfFile.get(file);
      if (prev !== undefined && serial < prev) return `sink ${sink}: line ${serial} of ${file} came out after line ${prev} (first copies out of order)`;
      lastSerialOfFile.set(file, serial);
    }
    for (const line of written) {
      const serial = line.slice(1, 8);
      const ids = d.ids.get(line);
      if (ids !== undefined && ids.length > 1) return `sink ${sink}: line L${serial} was delivered as events ${ids.join(', ')}: the file source read it more than once`;
      const n = counts.get(line) ?? 0;
      if (n === 0) {
        if ((glued.get(line) ?? 0) > 0 && tornOutputAllowed(exact)) {
          stats.gluedLines++;
          continue;
        }
        return `sink ${sink}: line L${serial} is missing from the output${ids === undefined ? ' (never delivered)' : ` (delivered as event ${ids[0]})`}`;
      }
      if (n === 1) continue;
      stats.duplicates += n - 1;
      const id = ids?.[0];
      if (id === undefined) return `sink ${sink}: line L${serial} is in the output ${n} times but was never delivered`;
      let allowed = 0;
      for (const b of boots) if (b.after === 'power' || b.after === 'process' || b.after === 'failure') allowed += replaysAllowed(b.cursors.get(sink) ?? 0, id, exact);
      if (n - 1 > allowed) {
        const cursors = boots.map((b) => `${b.after}:${b.cursors.get(sink) ?? '-'}`).join(' ');
        return `sink ${sink}: line L${serial} (event ${id}) is in the output ${n} times; allowed ${1 + allowed} (restarts and their recovered cursors: ${cursors})`;
      }
    }
  }
  return null;
}

const jsonMessage = (row: string): string | null => {
  try {
    const v = z.object({ message: z.string() }).safeParse(JSON.parse(row));
    return v.success ? v.data.message : null;
  } catch {
    return null;
  }
};

/** The report of a failed run: what failed, how to replay it, its configuration, and its trace. */
export function describeE2eFailure(r: E2eResult, lines = 80): string {
  const out = [
    r.failure === null ? `end-to-end simulation seed ${r.seed} passed` : `end-to-end simulation seed ${r.seed} failed: ${r.failure}`,
    `replay: ${Object.keys(r.overrides).length > 0 ? `SLUICE_E2E_CONFIG='${JSON.stringify(r.overrides)}' ` : ''}SLUICE_E2E_SEEDS=${r.seed} node scripts/test.js test/sim/e2e`,
    `config: ${JSON.stringify(r.config)}`,
    `stats: ${JSON.stringify(r.stats)}`,
    `trace (last ${Math.min(lines, r.trace.length)} of ${r.trace.length}):`,
    ...r.trace.slice(-lines).map((l) => `  ${l}`),
    `agent diagnostics (last ${Math.min(lines, r.diagnostics.length)} of ${r.diagnostics.length}):`,
    ...r.diagnostics.slice(-lines).map((l) => `  ${l}`),
  ];
  return out.join('\n');
}
