/**
 * The latency benchmark's durable-path floor (a process of its own): follows IN like `tail -F`
 * (inotify through `fs.watch`, a 2 ms poll as a backstop) and, for whatever it read, appends it to
 * a stand-in queue file and fdatasyncs it, then appends it to OUT and fdatasyncs that: the two
 * fdatasyncs in series that the agent's path (queue `fsync: always`, then a file sink) cannot do
 * without, with nothing else — no framing, no positions, no cursor. Lines arriving during the
 * fdatasyncs are taken together by the next round (group commit), as the agent does.
 *
 *   node latency-fsync-ref.js IN QUEUE_FILE OUT
 */
import { closeSync, existsSync, fdatasyncSync, openSync, readSync, watch, writeSync } from 'node:fs';
import { dirname } from 'node:path';

const [input, queueFile, output] = process.argv.slice(2);
if (input === undefined || queueFile === undefined || output === undefined) throw new Error('usage: latency-fsync-ref IN QUEUE_FILE OUT');
const q = openSync(queueFile, 'a');
const out = openSync(output, 'a');
const buf = Buffer.allocUnsafe(1 << 20);
let fd = -1;
let offset = 0;
let busy = false;

const pull = (): void => {
  if (busy) return;
  busy = true;
  try {
    if (fd < 0) {
      if (!existsSync(input)) return;
      fd = openSync(input, 'r');
    }
    for (;;) {
      const got = readSync(fd, buf, 0, buf.length, offset);
      if (got === 0) break;
      offset += got;
      writeSync(q, buf, 0, got);
      fdatasyncSync(q);
      writeSync(out, buf, 0, got);
      fdatasyncSync(out);
    }
  } finally {
    busy = false;
  }
};

watch(dirname(input), () => pull());
setInterval(pull, 2);
process.on('SIGTERM', () => {
  if (fd >= 0) closeSync(fd);
  process.exit(0);
});
pull();
