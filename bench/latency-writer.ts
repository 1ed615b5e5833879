/**
 * The latency benchmark's writer (a process of its own): appends `RATE` lines a second to a file
 * for `SECONDS` seconds, each line stamped with the monotonic clock (`process.hrtime`, the same
 * clock in every process on the machine) at the moment it is written. Lines due in the same
 * millisecond go in one write, as a busy application's logger would do.
 *
 *   node latency-writer.js FILE RATE SECONDS
 */
import { closeSync, openSync, writeSync } from 'node:fs';

const [file, rateArg, secondsArg] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: latency-writer FILE RATE SECONDS');
const rate = Number(rateArg ?? 10_000);
const total = Math.round(rate * Number(secondsArg ?? 10));
const pad = 'x'.repeat(80);
const fd = openSync(file, 'a');
const t0 = process.hrtime.bigint();
let seq = 0;

const tick = (): void => {
  const elapsedS = Number(process.hrtime.bigint() - t0) / 1e9;
  const due = Math.min(total, Math.floor(elapsedS * rate));
  if (due > seq) {
    const stamp = process.hrtime.bigint().toString();
    let chunk = '';
    for (; seq < due; seq++) chunk += `${stamp} ${seq} ${pad}\n`;
    writeSync(fd, chunk);
  }
  if (seq < total) setTimeout(tick, 1);
  else closeSync(fd);
};
tick();
