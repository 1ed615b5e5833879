import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** dist/src/index.js: what `require('sluice')` loads. */
export const PKG = resolve(__dirname, '..', '..', 'src', 'index.js');
export const ROOT = resolve(__dirname, '..', '..', '..');

export function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-logger-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Writes `source` to `<dir>/<name>` and runs it with node. `PKG` in the source is replaced with the
 * path of the built package. `onStdout` sees stdout as it arrives (to signal the child at the right time).
 */
export function runScript(
  dir: string,
  name: string,
  source: string,
  opts: { onStdout?: (chunk: string, child: import('node:child_process').ChildProcess) => void; args?: string[]; timeoutMs?: number } = {},
): Promise<RunResult> {
  const file = join(dir, name);
  writeFileSync(file, source.replaceAll('PKG', JSON.stringify(PKG)));
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [...(opts.args ?? []), file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      opts.onStdout?.(c, child);
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not finish in time; stderr: ${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

/** Every line of an NDJSON file, parsed; throws on a line that is not JSON. */
export function readLines(file: string): Array<Record<string, unknown>> {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  if (text.length === 0) return [];
  if (!text.endsWith('\n')) throw new Error(`${file} does not end with a newline`);
  return text
    .slice(0, -1)
    .split('\n')
    .map((l, i) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch (e) {
        throw new Error(`${file}:${i + 1} is not JSON: ${l.slice(0, 200)}`, { cause: e });
      }
    });
}

/** Asserts the lines carry seq 0..n-1 exactly once each, in order. */
export function seqs(lines: Array<Record<string, unknown>>): number[] {
  return lines.filter((l) => typeof l['seq'] === 'number').map((l) => l['seq'] as number);
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
