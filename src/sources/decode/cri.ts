/**
 * The CRI log format, as container runtimes (containerd, CRI-O) write `/var/log/pods/…/*.log`:
 *
 *   <RFC 3339 timestamp> <stdout|stderr> <tags> <message>
 *
 * `tags` is `P` (a partial piece: the runtime cut a long line, more follows) or `F` (the full line,
 * or the last piece), possibly followed by `:`-separated tags. The runtime cuts lines at 16 KiB, so
 * a `P` sequence of one stream ends with that stream's `F` piece; lines of the other stream may come
 * in between.
 */

export interface CriLine {
  readonly stream: 'stdout' | 'stderr';
  readonly partial: boolean;
  /** The timestamp as the runtime wrote it. */
  readonly timestamp: string;
  /** Where the message starts in the buffer (it ends where the line does). */
  readonly message: number;
}

const SPACE = 32;
const STDOUT = Buffer.from('stdout');
const STDERR = Buffer.from('stderr');

/** Parses the header of `buf[a, b)`; null when the line is not in the CRI format. */
export function parseCri(buf: Buffer, a: number, b: number): CriLine | null {
  const s1 = buf.indexOf(SPACE, a);
  if (s1 <= a || s1 >= b) return null;
  const c0 = buf[a] as number;
  if (c0 < 48 || c0 > 57) return null; // a timestamp starts with a digit
  const s2 = buf.indexOf(SPACE, s1 + 1);
  if (s2 !== s1 + 7 || s2 >= b) return null;
  const stream = buf.compare(STDOUT, 0, 6, s1 + 1, s2) === 0 ? 'stdout' : buf.compare(STDERR, 0, 6, s1 + 1, s2) === 0 ? 'stderr' : null;
  if (stream === null) return null;
  const tag = buf[s2 + 1];
  if (tag !== 80 /* P */ && tag !== 70 /* F */) return null;
  let s3 = s2 + 2;
  while (s3 < b && buf[s3] !== SPACE) s3++;
  if (s3 < b && buf[s2 + 2] !== SPACE && buf[s2 + 2] !== 58 /* : */) return null;
  return { stream, partial: tag === 80, timestamp: buf.toString('latin1', a, s1), message: s3 < b ? s3 + 1 : b };
}
