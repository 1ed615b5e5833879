/**
 * Child process for the crash test: tails `<logs>/*.log*` into a real queue (fsync always) and
 * prints the event count of every batch once it is durable. Killed with SIGKILL by the test, or
 * stopped with SIGTERM (graceful: abort, drain, close).
 * Usage: node crash-child.js <logs dir> <queue dir>
 */
import { join } from 'node:path';
import { openQueue } from '../../src/queue/index';
import { fileSourceSchema } from '../../src/sources/file/config';
import { FileSource } from '../../src/sources/file/source';

async function main(): Promise<void> {
  const [logs, queueDir] = process.argv.slice(2) as [string, string];
  const queue = await openQueue({ dir: queueDir, consumers: ['check'], fsync: { mode: 'always' } });
  const source = new FileSource(
    fileSourceSchema.parse({
      type: 'file',
      include: [join(logs, '*.log*')],
      glob_interval_ms: 20,
      rotate_wait_ms: 100,
      read_buffer_bytes: 16 * 1024,
    }),
  );
  const ac = new AbortController();
  process.on('SIGTERM', () => ac.abort());
  const quiet = (): void => undefined;
  await source.run({
    id: 'app',
    positions: queue.positions(),
    signal: ac.signal,
    log: { debug: quiet, info: quiet, warn: (m) => process.stderr.write(`${m}\n`), error: (m) => process.stderr.write(`${m}\n`) },
    emit: async (b) => {
      await queue.append(Buffer.from(b.lines), { events: b.events, ...(b.positions ? { positions: b.positions } : {}) });
      process.stdout.write(`${b.events}\n`);
    },
  });
  await queue.close();
}

main().catch((e: unknown) => {
  process.stderr.write(`${String(e)}\n`);
  process.exit(1);
});
