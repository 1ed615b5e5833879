/**
 * The nats source: pulls from a durable JetStream consumer and appends what it gets to the queue,
 * exactly once across kill -9 of the agent.
 *
 * The loop: the client pulls ahead (`consume`, at most about `batch.max_bytes` buffered); the
 * source takes a message, lingers up to `batch.timeout` for more up to `batch.max_bytes` → one emit
 * per run of messages of the same kind, carrying the position below → once the queue says the batch
 * is durable, acknowledge each message (`ackAck`: the server confirms) — never before. Up to
 * `MAX_IN_FLIGHT` batches are on their way into the queue while the next is gathered.
 *
 * Exactly once: a message is delivered again by the server whenever its acknowledgement did not
 * reach it (the agent was killed between the fsync and the ack, the ack was lost, `ack_wait` passed
 * while the queue was full). The source therefore keeps, as its position in the same queue record as
 * the data (`position.ts`), the set of stream sequences that are durable in the queue but whose ack
 * the server has not confirmed. A delivery whose sequence is in that set is acknowledged and not
 * appended again; one whose batch is still on its way into the queue is acknowledged once that
 * batch is durable. A sequence leaves the set when the server confirms its ack (the next record's
 * position leaves it out), and on start every sequence at or below the consumer's ack floor is
 * dropped. This holds whatever order redeliveries come in; it needs the consumer to be this
 * agent's alone (another agent on the same durable consumer cannot know what this one stored).
 *
 * Payloads: a message with `Sluice-Encoding: json` (a sluice `nats` sink with `encoding: json`) is
 * NDJSON of events and stays structured (`events` records); `decoding: ndjson` takes any message as
 * NDJSON (each line checked; a line that is not a JSON object becomes `{"message": line}`);
 * everything else is lines of text. An empty message is acknowledged and stores nothing.
 */
import { errorText } from '../../core/diagnostics';
import { connectNats, loadJetStream, type NatsConnection } from '../../core/nats';
import type { Clock } from '../../core/ports';
import type { SourceBatch, SourceContext, Source } from '../../core/source';
import type { NatsSourceConfig } from './config';
import { decodeSeqs, encodeSeqs } from './position';

type JsMsg = import('@nats-io/jetstream').JsMsg;

/** Batches on their way into the queue at once. */
const MAX_IN_FLIGHT = 4;
/** On stop, how long acks in flight get to be confirmed before the connection closes. */
const ACK_GRACE_MS = 2000;
const NL = 0x0a;
/** A sequence in the encoded position at most: two varints of up to 8 bytes. */
const SEQ_BYTES = 16;

export class NatsSourceError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'NatsSourceError';
  }
}

interface Run {
  readonly format: 'lines' | 'events';
  readonly msgs: JsMsg[];
  subject: string | undefined;
}

export class NatsSource implements Source {
  /** Durable in the queue, ack not confirmed by the server. */
  private readonly stored = new Set<number>();
  /** On their way into the queue: sequence → the emit that carries it. */
  private readonly inFlight = new Map<number, Promise<void>>();
  private readonly pending = new Set<Promise<void>>();
  private readonly acks = new Set<Promise<void>>();
  private failure: unknown;
  /** The stream's creation time: stored sequences belong to this incarnation of the stream. */
  private streamCreated = '';

  constructor(
    private readonly config: NatsSourceConfig,
    private readonly deps: { readonly cwd: string; readonly agentId: string; readonly clock: Clock },
  ) {}

  private get clock(): Clock {
    return this.deps.clock;
  }

  async run(ctx: SourceContext): Promise<void> {
    const { stream, consumer } = this.config;
    const key = `${ctx.id}:${stream}:${consumer}`;
    const saved = ctx.positions.get(key);
    let savedFor: string | undefined;
    if (saved !== undefined) {
      try {
        const d = decodeSeqs(key, saved);
        savedFor = d.stream;
        for (const s of d.seqs) this.stored.add(s);
      } catch (e) {
        ctx.log.warn(`source ${ctx.id}: ${errorText(e)}`);
      }
    }
    if (ctx.signal.aborted) return;
    let nc: NatsConnection;
    try {
      nc = await connectNats(this.config, `sluice ${this.deps.agentId} source ${ctx.id}`, this.deps.cwd);
    } catch (e) {
      throw new NatsSourceError('SLUICE_SOURCE_NATS_CONNECT', `source ${JSON.stringify(ctx.id)} cannot connect to ${this.config.servers.join(', ')}: ${errorText(e)}`, { cause: e });
    }
    try {
      const { jetstream, jetstreamManager } = await loadJetStream();
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      const { created, floor } = await this.ensureConsumer(ctx, jsm);
      this.streamCreated = created;
      if (savedFor !== undefined && savedFor !== created && this.stored.size > 0) {
        ctx.log.warn(`source ${ctx.id}: stream ${stream} was created again since the last run (${savedFor} → ${created}): its sequences start over, the stored ones are forgotten`);
        this.stored.clear();
      }
      for (const s of this.stored) if (s <= floor) this.stored.delete(s);
      const js = jetstream(nc);
      const c = await js.consumers.get(stream, consumer);
      const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
      const maxBytes = Math.max(this.config.batch.max_bytes, maxPayload + 64 * 1024);
      // The client pulls ahead up to `maxBytes` (refilling at 75%), with heartbeats and re-pulls of its own.
      const messages = await c.consume({ max_bytes: maxBytes });
      const stop = (): void => void messages.stop();
      ctx.signal.addEventListener('abort', stop, { once: true });
      try {
        const iter = messages[Symbol.asyncIterator]();
        let next = iter.next();
        let ended = false;
        while (!ended && !ctx.signal.aborted && this.failure === undefined) {
          while (this.pending.size >= MAX_IN_FLIGHT) await Promise.race(this.pending);
          const first = await next;
          if (first.done === true) break;
          const msgs: JsMsg[] = [first.value];
          let bytes = first.value.data.length;
          next = iter.next();
          // Linger for more, up to the batch's bytes, so a busy stream makes big batches (one fsync each).
          const linger = this.config.batch.timeout;
          const deadline = this.clock.now() + linger;
          while (bytes < this.config.batch.max_bytes && linger > 0) {
            const left = deadline - this.clock.now();
            if (left <= 0) break;
            let timer: { cancel(): void } | undefined;
            const r = await Promise.race([next, new Promise<'linger'>((resolve) => (timer = this.clock.setTimer(left, () => resolve('linger'))))]);
            timer?.cancel();
            if (r === 'linger') break;
            if (r.done === true) {
              ended = true;
              break;
            }
            msgs.push(r.value);
            bytes += r.value.data.length;
            next = iter.next();
          }
          if (ctx.signal.aborted) {
            // Stopping: what was taken and not stored goes back to the server at once.
            for (const m of msgs) if (!this.stored.has(m.info.streamSequence) && !this.inFlight.has(m.info.streamSequence)) m.nak();
            break;
          }
          this.take(ctx, key, msgs);
        }
      } finally {
        ctx.signal.removeEventListener('abort', stop);
        await messages.close().catch(() => undefined);
      }
      if (!ctx.signal.aborted && this.failure === undefined) {
        // The server ended the delivery (the consumer was deleted, say): start over, from the stored positions.
        this.failure = new NatsSourceError('SLUICE_SOURCE_NATS_CONSUMER_ENDED', `source ${JSON.stringify(ctx.id)}: consumer ${JSON.stringify(consumer)} on stream ${JSON.stringify(stream)} stopped delivering`);
      }
    } finally {
      // What is on its way into the queue lands (and is acked) before the source ends, so a restart
      // sees its sequences in the queue's positions; the acks get a moment to be confirmed (a
      // restart would otherwise see those messages again — recognised, but after ack_wait).
      await Promise.allSettled(this.pending);
      await this.settleAcks(ACK_GRACE_MS);
      await nc.close().catch(() => undefined);
    }
    const failure = this.failure;
    if (failure !== undefined) throw failure instanceof Error ? failure : new Error(errorText(failure));
  }

  /** The stream must exist; the durable consumer is created when missing. Returns the stream's creation time and the consumer's ack floor (stream sequence). */
  private async ensureConsumer(ctx: SourceContext, jsm: import('@nats-io/jetstream').JetStreamManager): Promise<{ created: string; floor: number }> {
    const { stream, consumer } = this.config;
    let created: string;
    try {
      created = (await jsm.streams.info(stream)).created;
    } catch (e) {
      if (e instanceof Error && /stream not found/i.test(e.message)) {
        throw new NatsSourceError(
          'SLUICE_SOURCE_NATS_NO_STREAM',
          `source ${JSON.stringify(ctx.id)}: stream ${JSON.stringify(stream)} does not exist: create it (nats stream add ${stream} --subjects "logs.>" --storage file --replicas 3 --dupe-window 24h) or fix sources.${ctx.id}.stream`,
        );
      }
      throw e;
    }
    try {
      const info = await jsm.consumers.info(stream, consumer);
      if (info.config.ack_policy !== 'explicit') {
        throw new NatsSourceError(
          'SLUICE_SOURCE_NATS_ACK_POLICY',
          `source ${JSON.stringify(ctx.id)}: consumer ${JSON.stringify(consumer)} on stream ${JSON.stringify(stream)} has ack_policy ${info.config.ack_policy}; sluice needs explicit: recreate it or name another consumer`,
        );
      }
      return { created, floor: info.ack_floor.stream_seq };
    } catch (e) {
      if (!(e instanceof Error && /consumer not found/i.test(e.message))) throw e;
    }
    const { AckPolicy, DeliverPolicy } = await loadJetStream();
    const made = await jsm.consumers.add(stream, {
      durable_name: consumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: this.config.ack_wait * 1_000_000,
      max_ack_pending: 20_000,
      ...(this.config.filter_subject === undefined ? {} : { filter_subject: this.config.filter_subject }),
    });
    ctx.log.info(`source ${ctx.id}: created durable consumer ${consumer} on stream ${stream}`);
    return { created, floor: made.ack_floor.stream_seq };
  }

  /** Sorts one fetch into duplicates (acked), messages of batches on their way (acked after them) and new runs (emitted). */
  private take(ctx: SourceContext, key: string, msgs: readonly JsMsg[]): void {
    const runs: Run[] = [];
    const seen = new Set<number>();
    for (const m of msgs) {
      const seq = m.info.streamSequence;
      if (seen.has(seq)) continue; // delivered twice in one fetch: the first copy's ack settles it
      seen.add(seq);
      if (this.stored.has(seq)) {
        this.ack([m]);
        continue;
      }
      const carrier = this.inFlight.get(seq);
      if (carrier !== undefined) {
        void carrier.then(() => this.ack([m]), () => undefined);
        continue;
      }
      if (m.data.length === 0) {
        m.ack();
        continue;
      }
      const format = this.formatOf(m);
      let run = runs[runs.length - 1];
      if (run === undefined || run.format !== format) {
        run = { format, msgs: [], subject: m.subject };
        runs.push(run);
      }
      if (run.subject !== m.subject) run.subject = undefined;
      run.msgs.push(m);
    }
    for (const run of runs) this.emit(ctx, key, run);
  }

  private formatOf(m: JsMsg): 'lines' | 'events' {
    if (this.config.decoding === 'text') return 'lines';
    if (this.config.decoding === 'ndjson') return 'events';
    return m.headers?.get('Sluice-Encoding') === 'json' ? 'events' : 'lines';
  }

  /**
   * One run of messages into the queue: one batch, or — when its bytes would not fit one queue
   * record (`ctx.recordBytes`) — several, cut between messages, each with its own sequences and
   * the position as it stands when it is emitted (a message is never split: one larger than a
   * record alone is refused by the queue and the source restarts, saying why).
   */
  private emit(ctx: SourceContext, key: string, run: Run): void {
    const trusted = this.config.decoding === 'auto';
    const datas: { readonly m: JsMsg; readonly parts: Buffer[]; readonly bytes: number; readonly events: number }[] = [];
    let total = 0;
    for (const m of run.msgs) {
      let data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
      if (run.format === 'events' && !trusted) data = checkedNdjson(data);
      const parts = [data];
      let events = countLines(data);
      if (data[data.length - 1] !== NL) {
        parts.push(NEWLINE);
        events++;
      }
      const bytes = data.length + parts.length - 1;
      datas.push({ m, parts, bytes, events });
      total += bytes;
    }
    // What the batch carries besides its lines: the origin, and the position (the key, the stream,
    // two varints at most per sequence carried: the stored ones, those in flight, this run's).
    const room = ctx.recordBytes;
    const carried = this.stored.size + this.inFlight.size + datas.length;
    const fixed = 64 + Buffer.byteLength(key) + Buffer.byteLength(this.streamCreated) + Buffer.byteLength(run.subject ?? '') + SEQ_BYTES * carried;
    if (room === undefined || total + fixed <= room) {
      this.append(ctx, key, run, datas);
      return;
    }
    let group: typeof datas = [];
    let bytes = 0;
    for (const d of datas) {
      if (group.length > 0 && bytes + d.bytes + fixed > room) {
        this.append(ctx, key, run, group);
        group = [];
        bytes = 0;
      }
      group.push(d);
      bytes += d.bytes;
    }
    if (group.length > 0) this.append(ctx, key, run, group);
  }

  private append(ctx: SourceContext, key: string, run: Run, datas: readonly { readonly m: JsMsg; readonly parts: Buffer[]; readonly events: number }[]): void {
    const parts = datas.flatMap((d) => d.parts);
    const events = datas.reduce((n, d) => n + d.events, 0);
    const msgs = datas.map((d) => d.m);
    const seqs = msgs.map((m) => m.info.streamSequence);
    // This batch's own sequences, those of batches ahead of it in the queue, and the stored ones.
    const carried = new Set(this.stored);
    for (const s of this.inFlight.keys()) carried.add(s);
    for (const s of seqs) carried.add(s);
    const batch: SourceBatch = {
      lines: parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts),
      format: run.format,
      events,
      ...(run.subject === undefined ? {} : { origin: run.subject }),
      positions: [{ key, value: encodeSeqs(this.streamCreated, carried) }],
    };
    const done = ctx.emit(batch).then(
      () => {
        for (const s of seqs) {
          this.inFlight.delete(s);
          this.stored.add(s);
        }
        this.ack(msgs);
      },
      (error: unknown) => {
        this.failure ??= error;
        for (const s of seqs) this.inFlight.delete(s);
      },
    );
    for (const s of seqs) this.inFlight.set(s, done);
    const tracked = done.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  /** Acknowledges stored messages; a sequence leaves the stored set once the server confirms. */
  private ack(msgs: readonly JsMsg[]): void {
    for (const m of msgs) {
      const p: Promise<void> = m
        .ackAck()
        .then(
          (ok) => {
            if (ok) this.stored.delete(m.info.streamSequence);
          },
          () => undefined, // not confirmed: the sequence stays known as stored; a redelivery is acked again
        )
        .finally(() => this.acks.delete(p));
      this.acks.add(p);
    }
  }

  /** Waits for the acks in flight to be confirmed, at most `ms`. */
  private async settleAcks(ms: number): Promise<void> {
    if (this.acks.size === 0) return;
    let timer: { cancel(): void } | undefined;
    await Promise.race([Promise.allSettled(this.acks), new Promise<void>((resolve) => (timer = this.clock.setTimer(ms, resolve)))]);
    timer?.cancel();
  }
}

const NEWLINE = Buffer.from('\n');

const countLines = (b: Buffer): number => {
  let n = 0;
  let at = b.indexOf(NL);
  while (at !== -1) {
    n++;
    at = b.indexOf(NL, at + 1);
  }
  return n;
};

/** NDJSON from a producer other than sluice: every line a JSON object, or wrapped as `{"message": line}`. */
const checkedNdjson = (data: Buffer): Buffer => {
  const text = data.toString('utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let changed = false;
  const out = lines.map((line) => {
    try {
      const v: unknown = JSON.parse(line);
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) return line.includes('\r') ? JSON.stringify(v) : line;
    } catch {
      // not JSON: wrapped below
    }
    changed = true;
    return JSON.stringify({ message: line.endsWith('\r') ? line.slice(0, -1) : line });
  });
  return changed ? Buffer.from(`${out.join('\n')}\n`) : data;
};
