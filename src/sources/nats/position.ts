/**
 * The nats source's position: the stream sequences that are durable in the queue and whose
 * JetStream acknowledgement the server has not (yet) confirmed — the only messages the server can
 * deliver again. It rides in every record the source appends (key `<source id>:<stream>:<consumer>`),
 * so the data and the knowledge "these sequences are in the queue" become durable in one write.
 *
 * Value: version byte 1; the stream's creation time as the server gives it (a varint length, then
 * UTF-8): sequences name messages of that stream only — a stream deleted and created again under the
 * same name numbers its messages from 1 again, and stored sequences of the old one must not make the
 * source skip them; then runs of consecutive sequences as pairs of unsigned LEB128 varints:
 * (start − end of the previous run, run length − 1). In steady state the set is the last batch or
 * two: a few bytes per record.
 */

const VERSION = 1;

export class SeqSetDecodeError extends Error {
  readonly code = 'SLUICE_SOURCE_NATS_POSITION';
  constructor(key: string, why: string) {
    super(`stored position ${key} cannot be read (${why}): forgotten; messages the server redelivers are taken as new`);
    this.name = 'SeqSetDecodeError';
  }
}

export interface StoredSeqs {
  /** The stream's creation time (`StreamInfo.created`). */
  readonly stream: string;
  readonly seqs: Set<number>;
}

export const encodeSeqs = (stream: string, seqs: Iterable<number>): Buffer => {
  const sorted = Array.from(seqs).sort((a, b) => a - b);
  const bytes: number[] = [VERSION];
  const varint = (n: number): void => {
    let v = n;
    while (v >= 0x80) {
      bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    bytes.push(v);
  };
  const name = Buffer.from(stream, 'utf8');
  varint(name.length);
  for (const b of name) bytes.push(b);
  let prevEnd = 0;
  let i = 0;
  while (i < sorted.length) {
    const start = sorted[i] as number;
    let end = start;
    i++;
    while (i < sorted.length && (sorted[i] as number) <= end + 1) end = Math.max(end, sorted[i++] as number);
    varint(start - prevEnd);
    varint(end - start);
    prevEnd = end;
  }
  return Buffer.from(bytes);
};

export const decodeSeqs = (key: string, value: Uint8Array): StoredSeqs => {
  if (value.length === 0 || value[0] !== VERSION) throw new SeqSetDecodeError(key, `unknown format version ${value[0] ?? 'none'}`);
  const out = new Set<number>();
  let at = 1;
  const varint = (): number => {
    let n = 0;
    let scale = 1;
    for (;;) {
      if (at >= value.length) throw new SeqSetDecodeError(key, 'cut short');
      const b = value[at++] as number;
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 0x80;
      if (scale > 2 ** 56) throw new SeqSetDecodeError(key, 'number too long');
    }
  };
  const nameLength = varint();
  if (nameLength > 256 || at + nameLength > value.length) throw new SeqSetDecodeError(key, 'bad stream identity');
  const stream = Buffer.from(value.buffer, value.byteOffset + at, nameLength).toString('utf8');
  at += nameLength;
  let prevEnd = 0;
  while (at < value.length) {
    const start = prevEnd + varint();
    const end = start + varint();
    if (end - start > 10_000_000) throw new SeqSetDecodeError(key, 'run too long');
    for (let s = start; s <= end; s++) out.add(s);
    prevEnd = end;
  }
  return { stream, seqs: out };
};
