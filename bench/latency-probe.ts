/**
 * The latency benchmark's probe (a process of its own): follows FILE (inotify through `fs.watch`,
 * and a 2 ms poll as a backstop) and, for every complete line, takes the monotonic clock when the
 * read returned minus the stamp the writer put at the start of the line. Lines whose sequence
 * number is below WARMUP are not counted. Prints one JSON object (percentiles in ms) once COUNT
 * lines have been seen.
 *
 *   node latency-probe.js FILE COUNT WARMUP
 */
import { closeSync, existsSync, openSync, readSync, watch } from 'node:fs';
import { dirname } from 'node:path';

const [file, countArg, warmArg] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: latency-probe FILE COUNT WARMUP');
const count = Number(countArg);
const warmup = Number(warmArg ?? 0);
const lat = new Float64Array(count);
let n = 0;
let fd = -1;
let offset = 0;
let carry = '';
const buf = Buffer.allocUnsafe(1 << 20);

const pull = (): void => {
  if (fd < 0) {
    if (!existsSync(file)) return;
    fd = openSync(file, 'r');
  }
  for (;;) {
    const got = readSync(fd, buf, 0, buf.length, offset);
    if (got === 0) break;
    const now = process.hrtime.bigint();
    offset += got;
    const text = carry + buf.toString('latin1', 0, got);
    let from = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', from)) {
      const sp1 = text.indexOf(' ', from);
      const sp2 = text.indexOf(' ', sp1 + 1);
      const seq = Number(text.slice(sp1 + 1, sp2));
      if (sp1 > from && seq >= warmup && n < count) lat[n++] = Number(now - BigInt(text.slice(from, sp1))) / 1e6;
      from = nl + 1;
    }
    carry = text.slice(from);
  }
  if (n >= count) finish();
};

const finish = (): void => {
  const s = Array.from(lat.subarray(0, n)).sort((a, b) => a - b);
  const p = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  process.stdout.write(`${JSON.stringify({ lines: n, p50: p(0.5), p90: p(0.9), p99: p(0.99), p999: p(0.999), max: s[s.length - 1] ?? NaN })}\n`);
  if (fd >= 0) closeSync(fd);
  process.exit(0);
};

watch(dirname(file), { persistent: false }, () => pull());
setInterval(pull, 2);
pull();
