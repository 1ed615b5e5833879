/**
 * A leak check for a long-running agent: the agent (file source → queue `fsync: always` → file
 * sink) takes a steady RATE lines/s (default 10,000) for DURATION_S seconds (default 60), and every
 * 10 s its heap is measured after a full garbage collection (a preloaded hook, ./soak-hook.ts,
 * `--expose-gc`: only for this measurement). What a leak looks like: the heap after GC climbing with
 * the lines delivered. Printed: the samples, and the growth per million lines between the first
 * sample after warm-up and the last (near zero, or a leak to chase with a heap profile).
 *
 *   npm run bench -- soak          (DURATION_S=300 RATE=20000 for a longer, harder run)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from './agent-util';

const RATE = Number(process.env['RATE'] ?? 10_000);
const SECONDS = Number(process.env['DURATION_S'] ?? 60);
const EVERY_S = 10;
const cli = process.env['SLUICE_CLI'] ?? join(__dirname, '..', 'src', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-soak-'));

const exited = (c: ChildProcess): Promise<number | null> =>
  c.exitCode !== null ? Promise.resolve(c.exitCode) : new Promise((r) => c.on('exit', (code) => r(code)));

interface Sample {
  atS: number;
  lines: number;
  heapMB: number;
  heapTotalMB: number;
  rssMB: number;
}

const main = async (): Promise<void> => {
  const input = join(dir, 'in.log');
  const output = join(dir, 'out.log');
  const config = join(dir, 'sluice.yaml');
  writeFileSync(input, '');
  writeFileSync(
    config,
    `data_dir: ${join(dir, 'data')}\nqueue:\n  fsync: always\nsources:\n  app:\n    type: file\n    include: ["${input}"]\n    start_at: beginning\n` +
      `sinks:\n  archive:\n    type: file\n    inputs: [app]\n    path: ${output}\n    encoding: text\n`,
  );
  const agent = spawn(process.execPath, ['--expose-gc', '--require', join(__dirname, 'soak-hook.js'), cli, 'run', '--config', config, '--log-level', 'warn'], {
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let err = '';
  const pending: ((line: string) => void)[] = [];
  agent.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    for (let nl = err.indexOf('\n'); nl >= 0; nl = err.indexOf('\n')) {
      const line = err.slice(0, nl);
      err = err.slice(nl + 1);
      if (line.startsWith('SOAK ')) pending.shift()?.(line);
      else process.stderr.write(`${line}\n`);
    }
  });
  const measure = (): Promise<string> =>
    new Promise((resolve) => {
      pending.push(resolve);
      agent.kill('SIGUSR2');
    });
  await sleep(1500);
  const writer = spawn(process.execPath, [join(__dirname, 'latency-writer.js'), input, String(RATE), String(SECONDS)], { stdio: 'inherit' });
  const t0 = Date.now();
  const samples: Sample[] = [];
  const lineBytes = 110; // what latency-writer writes per line, about
  for (let at = EVERY_S; at <= SECONDS; at += EVERY_S) {
    await sleep(t0 + at * 1000 - Date.now());
    const [, heap, total, rss] = (await measure()).split(' ').map(Number);
    let delivered = 0;
    try {
      delivered = Math.round(statSync(output).size / lineBytes);
    } catch {
      // nothing delivered yet
    }
    samples.push({ atS: at, lines: delivered, heapMB: (heap ?? 0) / 1048576, heapTotalMB: (total ?? 0) / 1048576, rssMB: (rss ?? 0) / 1048576 });
  }
  await exited(writer);
  agent.kill('SIGTERM');
  const code = await exited(agent);
  rmSync(dir, { recursive: true, force: true });
  if (code !== 0) throw new Error(`agent exited with ${String(code)}`);
  console.log(`${RATE.toLocaleString('en-US')} lines/s for ${SECONDS} s; heap measured after a full GC every ${EVERY_S} s\n`);
  console.log('| after s | lines delivered (about) | heap used after GC, MB | heap total, MB | RSS, MB |');
  console.log('| ---: | ---: | ---: | ---: | ---: |');
  for (const s of samples) console.log(`| ${s.atS} | ${s.lines.toLocaleString('en-US')} | ${s.heapMB.toFixed(2)} | ${s.heapTotalMB.toFixed(1)} | ${s.rssMB.toFixed(1)} |`);
  const first = samples[0];
  const last = samples[samples.length - 1];
  if (first !== undefined && last !== undefined && last.lines > first.lines) {
    const perM = ((last.heapMB - first.heapMB) * 1024) / ((last.lines - first.lines) / 1e6);
    console.log(`\nheap growth after GC, first → last sample: ${perM.toFixed(1)} KB per million lines (a leak shows as steady growth; noise is a few hundred KB either way)`);
  }
};

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
