/**
 * Child process for the EACCES test (run as an unprivileged user when the tests run as root, since
 * root reads any file): tails `<dir>/*.log` for a while and prints what it emitted and warned.
 * Usage: node eacces-child.js <dir> <ms>
 */
import { join } from 'node:path';
import { fileSourceSchema } from '../../src/sources/file/config';
import { FileSource } from '../../src/sources/file/source';

async function main(): Promise<void> {
  const [dir, ms] = process.argv.slice(2) as [string, string];
  const source = new FileSource(fileSourceSchema.parse({ type: 'file', include: [join(dir, '*.log')], glob_interval_ms: 20 }));
  const ac = new AbortController();
  setTimeout(() => ac.abort(), Number(ms));
  const warnings: { msg: string; fields: Record<string, unknown> | undefined }[] = [];
  const chunks: string[] = [];
  const quiet = (): void => undefined;
  await source.run({
    id: 'app',
    positions: new Map(),
    signal: ac.signal,
    log: { debug: quiet, info: quiet, warn: (msg, fields) => warnings.push({ msg, fields }), error: quiet },
    emit: async (b) => {
      chunks.push(b.lines.toString());
    },
  });
  process.stdout.write(JSON.stringify({ uid: process.getuid?.(), text: chunks.join(''), warnings }));
}

void main();
