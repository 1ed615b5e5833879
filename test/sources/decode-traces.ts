/** The committed real traces (test/fixtures/traces/, README there) and a log that interleaves them with ordinary lines. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** test/fixtures/traces, from the source tree or from dist/ (tests run compiled). */
export const TRACES_DIR = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'traces');

/** A trace as the runtime printed it, without its last newline (as the event's `message` holds it). */
export const trace = (name: string): string => readFileSync(join(TRACES_DIR, name), 'utf8').replace(/\n$/, '');

export const JAVA = ['java-uncaught.txt', 'java-printstacktrace.txt'];
export const PYTHON = ['python-simple.txt', 'python-chained.txt', 'python-during.txt', 'python-group.txt'];
export const GO = ['go-panic.txt', 'go-panic-all.txt', 'go-nil.txt', 'go-deadlock.txt'];

/** An ordinary log line (one event in every mode). */
export const plain = (i: number): string => `2026-11-30T03:00:${String(i % 60).padStart(2, '0')}.000Z INFO request ${i} served status=200`;

/**
 * `count` events: ordinary lines, and every `every`-th one a trace from `names` (round robin).
 * Returns the expected events' messages and the file text (each event's lines, each ending in `\n`).
 */
export function interleave(names: readonly string[], count: number, every = 3): { events: string[]; text: string } {
  const events: string[] = [];
  let t = 0;
  for (let i = 0; i < count; i++) events.push(i % every === every - 1 ? trace(names[t++ % names.length] as string) : plain(i));
  return { events, text: events.map((e) => `${e}\n`).join('') };
}
