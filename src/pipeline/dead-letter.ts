/**
 * A sink's dead-letter store: `<data_dir>/dead_letter/<sink id>/`. What a destination refused for
 * good (HTTP 400, a single event still too large after 413 splits) and records whose envelope cannot
 * be decoded are kept here, never dropped.
 *
 * One file per entry, named after what it holds (`<first event id>-<last event id>.dl`, or
 * `record-<record id>.dl` for an undecodable record): the same refusal met again after a replay from
 * the queue overwrites its own entry instead of adding a second one. The file is
 *
 *   line 1   one JSON object: version, sink, reason, status, response (first KiB), time (ISO 8601),
 *            first_event_id, last_event_id, events, content_type, bytes
 *   rest     the payload, byte for byte as it was refused
 *
 * Durability: written to a temporary name, fdatasynced, renamed into place, and the directory
 * fsynced (created with `mkdirpDurable`), all before `put` resolves; the runner acks the group only
 * after that. A crash between leaves at most a `.tmp` file, which the next `open` removes.
 *
 * Bound: `max_bytes` over every entry (an empty store takes one entry of any size). A `put` past it rejects with `DeadLetterFullError`; the
 * runner then waits and tries again (backpressure: the sink stops acking, the queue holds the data)
 * until entries are replayed or removed.
 */
import { join } from 'node:path';
import { mkdirpDurable } from '../core/durable-dirs';
import type { FileSystem } from '../core/ports';
import type { Rejection } from '../core/sink';

export const DEAD_LETTER_VERSION = 1;
export const DEFAULT_DEAD_LETTER_MAX_BYTES = 1024 * 1024 * 1024;
const SUFFIX = '.dl';
const TMP = '.tmp';
const RESPONSE_MAX = 1024;

/** What line 1 of an entry says. */
export interface DeadLetterMeta {
  readonly version: number;
  readonly sink: string;
  readonly reason: string;
  readonly status?: number;
  readonly response?: string;
  /** ISO 8601, when the entry was written. */
  readonly time: string;
  readonly first_event_id: number;
  readonly last_event_id: number;
  readonly events: number;
  readonly content_type: string;
  readonly bytes: number;
}

export interface DeadLetterEntry {
  /** The file name inside the sink's directory. */
  readonly name: string;
  readonly meta: DeadLetterMeta;
  /** Size of the whole file. */
  readonly size: number;
}

export class DeadLetterFullError extends Error {
  readonly code = 'SLUICE_DEAD_LETTER_FULL';
  constructor(
    readonly dir: string,
    readonly usedBytes: number,
    readonly maxBytes: number,
  ) {
    super(`dead-letter store ${dir} is full (${usedBytes} of ${maxBytes} bytes); replay or remove entries (sluice dead-letter)`);
    this.name = 'DeadLetterFullError';
  }
}

export class DeadLetterError extends Error {
  readonly code = 'SLUICE_DEAD_LETTER_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'DeadLetterError';
  }
}

/** The directory of one sink's store. */
export const deadLetterDir = (dataDir: string, sink: string): string => join(dataDir, 'dead_letter', sink);

export class DeadLetterStore {
  private used: number | undefined;
  private ready = false;
  /** Writes one at a time (groups in flight can be refused together): the bound is checked against what is really there. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly fs: FileSystem,
    readonly dir: string,
    readonly sink: string,
    private readonly maxBytes: number = DEFAULT_DEAD_LETTER_MAX_BYTES,
  ) {}

  /** Bytes the entries take (scans the directory once). */
  async usedBytes(): Promise<number> {
    if (this.used === undefined) {
      let total = 0;
      for (const e of await this.names()) total += (await this.fs.stat(join(this.dir, e)))?.size ?? 0;
      this.used = total;
    }
    return this.used;
  }

  /** Keeps `r` durably; resolves once the entry and its name are on disk. Returns the file name. */
  async put(r: Rejection, wallMs: number): Promise<string> {
    const name = `${r.firstEventId}-${r.lastEventId}${SUFFIX}`;
    return this.write(name, r, wallMs);
  }

  /** Keeps an undecodable queue record (its raw payload). */
  async putRecord(recordId: number, events: number, payload: Buffer, reason: string, wallMs: number): Promise<string> {
    const r: Rejection = {
      payload,
      contentType: 'application/x-sluice-record',
      reason,
      firstEventId: recordId,
      lastEventId: recordId + Math.max(1, events) - 1,
      events,
    };
    return this.write(`record-${recordId}${SUFFIX}`, r, wallMs);
  }

  /** Every entry, oldest event first. */
  async list(): Promise<DeadLetterEntry[]> {
    const out: DeadLetterEntry[] = [];
    for (const name of await this.names()) {
      const { meta, size } = await this.read(name);
      out.push({ name, meta, size });
    }
    return out.sort((a, b) => a.meta.first_event_id - b.meta.first_event_id);
  }

  /** One entry with its payload. */
  async read(name: string): Promise<{ meta: DeadLetterMeta; payload: Buffer; size: number }> {
    const path = join(this.dir, name);
    const fh = await this.fs.open(path, 'read');
    try {
      const size = (await fh.stat()).size;
      const buf = Buffer.allocUnsafe(size);
      let off = 0;
      while (off < size) {
        const n = await fh.read(buf, off, size - off, off);
        if (n === 0) break;
        off += n;
      }
      const nl = buf.indexOf(0x0a);
      if (nl === -1 || off < size) throw new DeadLetterError(`${path}: not a dead-letter entry (no header line)`);
      let meta: DeadLetterMeta;
      try {
        meta = JSON.parse(buf.toString('utf8', 0, nl)) as DeadLetterMeta;
      } catch {
        throw new DeadLetterError(`${path}: not a dead-letter entry (header is not JSON)`);
      }
      if (meta.version !== DEAD_LETTER_VERSION) throw new DeadLetterError(`${path}: unknown dead-letter version ${String(meta.version)}`);
      return { meta, payload: buf.subarray(nl + 1), size };
    } finally {
      await fh.close();
    }
  }

  /** Removes an entry durably (after a successful replay). */
  async remove(name: string): Promise<void> {
    const path = join(this.dir, name);
    const st = await this.fs.stat(path);
    await this.fs.unlink(path);
    await this.fs.syncDir(this.dir);
    if (this.used !== undefined && st) this.used -= st.size;
  }

  private async names(): Promise<string[]> {
    let names: string[];
    try {
      names = await this.fs.readdir(this.dir);
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') return [];
      throw err;
    }
    return names.filter((n) => n.endsWith(SUFFIX));
  }

  private write(name: string, r: Rejection, wallMs: number): Promise<string> {
    const p = this.tail.then(() => this.writeNow(name, r, wallMs));
    this.tail = p.catch(() => undefined);
    return p;
  }

  private async writeNow(name: string, r: Rejection, wallMs: number): Promise<string> {
    if (!this.ready) {
      await mkdirpDurable(this.fs, this.dir);
      // A crash between the temporary file and its rename leaves a `.tmp`: never an entry.
      for (const n of await this.fs.readdir(this.dir)) if (n.endsWith(TMP)) await this.fs.unlink(join(this.dir, n)).catch(() => undefined);
      this.ready = true;
    }
    const meta: DeadLetterMeta = {
      version: DEAD_LETTER_VERSION,
      sink: this.sink,
      reason: r.reason,
      ...(r.status !== undefined ? { status: r.status } : {}),
      ...(r.response !== undefined ? { response: r.response.slice(0, RESPONSE_MAX) } : {}),
      time: new Date(wallMs).toISOString(),
      first_event_id: r.firstEventId,
      last_event_id: r.lastEventId,
      events: r.events,
      content_type: r.contentType,
      bytes: r.payload.length,
    };
    const header = Buffer.from(`${JSON.stringify(meta)}\n`, 'utf8');
    const size = header.length + r.payload.length;
    const path = join(this.dir, name);
    const previous = (await this.fs.stat(path))?.size ?? 0;
    const used = await this.usedBytes();
    // An empty store takes one entry of any size: one larger than the bound would wait for ever.
    if (used - previous > 0 && used - previous + size > this.maxBytes) throw new DeadLetterFullError(this.dir, used, this.maxBytes);
    const tmp = `${path}${TMP}`;
    const fh = await this.fs.open(tmp, 'truncate');
    try {
      await fh.writev([header, r.payload]);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await this.fs.rename(tmp, path);
    await this.fs.syncDir(this.dir);
    this.used = used - previous + size;
    return name;
  }
}
