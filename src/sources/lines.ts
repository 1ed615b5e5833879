/**
 * Line framing shared by the file and stdin sources. No decoding: bytes are carried through as
 * read (invalid UTF-8 included); a line ends at `\n` (so a `\r\n` ending is kept as is).
 *
 * The fast path is one `indexOf(10)` scan per line and a zero-copy `subarray` of the input; only a
 * chunk that holds an over-long line (or a partial line that must be flushed) is copied, to insert
 * the newlines that make every event end in `\n`.
 */

const NL = Buffer.from('\n');

export interface Framed {
  /** Complete lines, each ending in `\n`; empty when there is none. Shares memory with the input on the fast path. */
  readonly lines: Buffer;
  /** Lines in `lines`. */
  readonly events: number;
  /** Input bytes `lines` accounts for; the rest (`input.length - consumed`) is a partial line to keep. */
  readonly consumed: number;
  /** Newlines inserted because a line was longer than `maxLine` (each one splits a line in two). */
  readonly splits: number;
}

/**
 * The most bytes of lines framing `bytes` of input can give: every byte, a newline after each
 * `maxLine` piece of an over-long line, and one more for a flushed partial line. (For the check
 * that a source's batch fits a queue segment.)
 */
export const framedBound = (bytes: number, maxLine: number): number => bytes + Math.ceil(bytes / maxLine) + 1;

/**
 * Frames `input` into complete lines.
 * @param maxLine longest line content (without its `\n`) kept whole; longer ones are cut into
 *   pieces of at most `maxLine` bytes, each given a `\n`, on a UTF-8 character boundary (a cut that
 *   would fall inside a multi-byte character moves back up to 3 bytes to its start), so each piece
 *   of UTF-8 text is valid UTF-8 and the JSON encoding never writes U+FFFD for a split. A partial tail longer than `maxLine` is cut too,
 *   so the bytes held back are never more than `maxLine`.
 * @param flushPartial also emit the partial tail (a `\n` is appended): idle flush, EOF.
 */
export function frameLines(input: Buffer, maxLine: number, flushPartial: boolean): Framed {
  let events = 0;
  let pos = 0;
  let long = false;
  let nl = input.indexOf(10, 0);
  while (nl !== -1) {
    if (nl - pos > maxLine) long = true;
    events++;
    pos = nl + 1;
    nl = input.indexOf(10, pos);
  }
  const rest = input.length - pos;
  if (!long && rest <= maxLine && !(flushPartial && rest > 0)) {
    return { lines: input.subarray(0, pos), events, consumed: pos, splits: 0 };
  }
  return frameSlow(input, maxLine, flushPartial);
}

function frameSlow(input: Buffer, maxLine: number, flushPartial: boolean): Framed {
  const parts: Buffer[] = [];
  let total = 0;
  let events = 0;
  let splits = 0;
  let runStart = 0; // start of a run of short lines copied as one part
  let pos = 0;
  const push = (b: Buffer): void => {
    parts.push(b);
    total += b.length;
  };
  const cut = (from: number, to: number): number => {
    // Emit [from, to) as pieces of maxLine bytes, each followed by a newline; return where the unsplit rest starts.
    let a = from;
    while (to - a > maxLine) {
      let end = a + maxLine;
      // Back off to the start of a UTF-8 character (continuation bytes are 10xxxxxx), keeping progress.
      for (let k = 0; k < 3 && end - 1 > a && ((input[end] as number) & 0xc0) === 0x80; k++) end--;
      if (((input[end] as number) & 0xc0) === 0x80) end = a + maxLine; // not UTF-8 text: cut where it was
      push(input.subarray(a, end));
      push(NL);
      events++;
      splits++;
      a = end;
    }
    return a;
  };
  let nl = input.indexOf(10, 0);
  while (nl !== -1) {
    if (nl - pos > maxLine) {
      if (pos > runStart) push(input.subarray(runStart, pos));
      const a = cut(pos, nl);
      push(input.subarray(a, nl + 1));
      events++;
      runStart = nl + 1;
    } else {
      events++;
    }
    pos = nl + 1;
    nl = input.indexOf(10, pos);
  }
  if (pos > runStart) push(input.subarray(runStart, pos));
  let consumed = pos;
  if (input.length - pos > maxLine) consumed = cut(pos, input.length);
  if (flushPartial && input.length > consumed) {
    push(input.subarray(consumed));
    push(NL);
    events++;
    consumed = input.length;
  }
  return { lines: parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, total), events, consumed, splits };
}

/** One piece of complete lines cut to fit a queue record: a view of the input (no copy), its first line's index and its line count. */
export interface LinePiece {
  readonly lines: Buffer;
  readonly first: number;
  readonly count: number;
}

/** `cutLines`' answer: the pieces, in order, or the first line that cannot fit a piece alone. */
export type Cut = { readonly ok: true; readonly pieces: readonly LinePiece[] } | { readonly ok: false; readonly index: number; readonly bytes: number };

/**
 * Cuts complete lines (each ending in `\n`) into pieces whose bytes, plus `perLine` for each of
 * their lines (what a line adds to its record besides itself, e.g. a position range), are at most
 * `max`. Lines are never split: a line that cannot fit alone is named instead (index, bytes). One
 * scan, one `indexOf` per line; only for a batch that is already known not to fit.
 */
export function cutLines(lines: Buffer, max: number, perLine = 0): Cut {
  const pieces: LinePiece[] = [];
  let start = 0; // of the piece
  let first = 0;
  let count = 0;
  let at = 0; // of the next line
  let index = 0;
  while (at < lines.length) {
    let nl = lines.indexOf(10, at);
    if (nl === -1) nl = lines.length - 1;
    const end = nl + 1;
    if (end - at + perLine > max) return { ok: false, index, bytes: end - at };
    if (count > 0 && end - start + (count + 1) * perLine > max) {
      pieces.push({ lines: lines.subarray(start, at), first, count });
      start = at;
      first = index;
      count = 0;
    }
    count++;
    index++;
    at = end;
  }
  if (count > 0) pieces.push({ lines: lines.subarray(start, at), first, count });
  return { ok: true, pieces };
}
