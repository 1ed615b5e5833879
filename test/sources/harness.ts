/**
 * Runs a source in-process the way the agent does: `emit` is the caller, recording every batch and
 * applying its positions to a "durable" map once it resolves (like the queue after its fsync).
 * A crash is simulated by abandoning the batches still in flight: their lines and positions never
 * become durable.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SourcePosition } from '../../src/queue/types';
import { batchBytes, type Diagnostics, type Source, type SourceBatch } from '../../src/core/source';

export interface LogEntry {
  readonly level: string;
  readonly msg: string;
  readonly fields: Record<string, unknown> | undefined;
}

export class Harness {
  /** Batches whose emit resolved (durable), in order. */
  readonly durableBatches: SourceBatch[] = [];
  readonly positions: Map<string, Uint8Array>;
  readonly logs: LogEntry[] = [];
  readonly ac = new AbortController();
  private crashed = false;
  private done: Promise<void> | null = null;
  /** Extra delay before an emit resolves (pipelining). */
  emitDelayMs = 0;
  private readonly held: (() => void)[] = [];
  /** While true, emits do not resolve (a stuck queue) until released or crashed. */
  hold = false;
  /** The queue's bound on one batch (`SourceContext.recordBytes`); a larger batch is refused as the queue refuses it. */
  recordBytes: number | undefined = undefined;

  constructor(
    private readonly source: Source,
    readonly id = 'app',
    positions: ReadonlyMap<string, Uint8Array> = new Map(),
  ) {
    this.positions = new Map(positions);
  }

  start(): this {
    const log = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
      this.logs.push({ level, msg, fields });
    };
    const diagnostics: Diagnostics = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
    this.done = this.source.run({
      id: this.id,
      positions: new Map(this.positions),
      log: diagnostics,
      signal: this.ac.signal,
      emit: (batch) => this.emit(batch),
      ...(this.recordBytes === undefined ? {} : { recordBytes: this.recordBytes }),
    });
    return this;
  }

  private async emit(batch: SourceBatch): Promise<void> {
    checkBatch(batch, this.id);
    if (this.recordBytes !== undefined && batchBytes(batch) > this.recordBytes) {
      throw Object.assign(new Error(`batch of ${batchBytes(batch)} bytes, more than a record holds`), { code: 'SLUICE_QUEUE_RECORD_TOO_LARGE' });
    }
    // The contract: emit takes its copy of the lines before it returns (the source reuses its buffer).
    batch = { ...batch, lines: Buffer.from(batch.lines) };
    if (this.emitDelayMs > 0) await new Promise((r) => setTimeout(r, this.emitDelayMs));
    else await new Promise((r) => setImmediate(r));
    if (this.hold) await new Promise<void>((r) => this.held.push(r));
    if (this.crashed) return;
    this.durableBatches.push(batch);
    for (const p of batch.positions ?? []) applyPosition(this.positions, p);
  }

  release(): void {
    this.hold = false;
    for (const r of this.held.splice(0)) r();
  }

  /** All durable lines, concatenated. */
  text(): string {
    return Buffer.concat(this.durableBatches.map((b) => b.lines)).toString('latin1');
  }

  bytes(): Buffer {
    return Buffer.concat(this.durableBatches.map((b) => b.lines));
  }

  events(): number {
    return this.durableBatches.reduce((n, b) => n + b.events, 0);
  }

  warnings(): LogEntry[] {
    return this.logs.filter((l) => l.level === 'warn');
  }

  async until(what: string, pred: () => boolean, timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; got ${this.events()} events in ${this.durableBatches.length} batches`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async stop(): Promise<void> {
    this.ac.abort();
    this.release();
    await this.done;
  }

  /** Like kill -9 of the agent: batches in flight never become durable. */
  async crash(): Promise<void> {
    this.crashed = true;
    this.ac.abort();
    this.release();
    await this.done;
  }
}

function applyPosition(map: Map<string, Uint8Array>, p: SourcePosition): void {
  if (p.value === null) map.delete(p.key);
  else map.set(p.key, p.value);
}

/** The contract every batch must honour. */
export function checkBatch(batch: SourceBatch, id: string): void {
  if (batch.events < 1) throw new Error(`batch with ${batch.events} events`);
  if (batch.lines.length === 0 || batch.lines[batch.lines.length - 1] !== 10) throw new Error('batch does not end in a newline');
  let n = 0;
  for (let i = batch.lines.indexOf(10); i !== -1; i = batch.lines.indexOf(10, i + 1)) n++;
  if (n !== batch.events) throw new Error(`batch says ${batch.events} events but holds ${n} lines`);
  for (const p of batch.positions ?? []) if (!p.key.startsWith(`${id}:`)) throw new Error(`position key ${p.key} lacks the source id`);
}

export function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-sources-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `count` numbered lines starting at `from`, each ~`width` bytes. */
export function numbered(prefix: string, from: number, count: number, width = 40): string {
  let s = '';
  for (let i = from; i < from + count; i++) {
    const head = `${prefix} ${String(i).padStart(8, '0')} `;
    s += head.padEnd(width - 1, 'x') + '\n';
  }
  return s;
}
