/**
 * Start-up: from spawning `sluice run` to the first line in its file sink (file source with one line
 * → queue, `fsync: always` → file sink), beside `node -e 0` (Node's own start and exit) and Node
 * loading the `sluice` program and exiting (`sluice --version`: what loading the code costs). Then a
 * 200,000-line backlog: spawn → the whole file in the sink. Runs alternate between the programs; each is repeated RUNS
 * times (default 10) and printed as median and range.
 *
 *   npm run bench -- startup     (RUNS=20; SLUICE_CLI=/other/checkout/dist/src/cli/main.js for another build)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeInput, procStat, sleep } from './agent-util';

const RUNS = Number(process.env['RUNS'] ?? 10);
const BACKLOG = 200_000;
const cli = process.env['SLUICE_CLI'] ?? join(__dirname, '..', 'src', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-startup-'));

const exited = (c: ChildProcess): Promise<number | null> =>
  c.exitCode !== null ? Promise.resolve(c.exitCode) : new Promise((r) => c.on('exit', (code) => r(code)));

const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

interface Took {
  /** Wall-clock ms from spawn. */
  wall: number;
  /** CPU ms (user + system) the child had used by then (10 ms resolution): what a loaded machine disturbs least. */
  cpu: number;
}

/** Spawn → exit of `node ARGS` (CPU time from /usr/bin/time). */
const nodeRun = async (args: string[]): Promise<Took> => {
  const t0 = process.hrtime.bigint();
  const c = spawn('/usr/bin/time', ['-f', '%U %S', process.execPath, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const code = await exited(c);
  const wall = ms(t0);
  if (code !== 0) throw new Error(`node ${args.join(' ')} exited with ${String(code)}: ${err}`);
  const m = /([\d.]+) ([\d.]+)\s*$/.exec(err);
  return { wall, cpu: m ? (Number(m[1]) + Number(m[2])) * 1000 : NaN };
};

/** Spawn → the sink file holding `bytes` bytes, in ms (checked every millisecond). */
const agentRun = async (n: number, input: string, bytes: number): Promise<Took> => {
  const data = join(dir, `data-${n}`);
  const out = join(dir, `out-${n}.log`);
  const config = join(dir, `sluice-${n}.yaml`);
  writeFileSync(
    config,
    `data_dir: ${data}\nqueue:\n  fsync: always\nsources:\n  app:\n    type: file\n    include: ["${input}"]\n    start_at: beginning\n` +
      `sinks:\n  archive:\n    type: file\n    inputs: [app]\n    path: ${out}\n    encoding: text\n`,
  );
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [cli, 'run', '--config', config, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
  let took = NaN;
  let cpu = NaN;
  try {
    for (let i = 0; i < 60_000; i++) {
      let size = 0;
      try {
        size = statSync(out).size;
      } catch {
        // not created yet
      }
      if (size >= bytes) {
        took = ms(t0);
        if (child.pid !== undefined) cpu = procStat(child.pid).cpuS * 1000;
        break;
      }
      if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode}`);
      await sleep(1);
    }
  } finally {
    child.kill('SIGTERM');
    await exited(child);
    rmSync(data, { recursive: true, force: true });
    rmSync(out, { force: true });
  }
  if (Number.isNaN(took)) throw new Error('the sink never got the input');
  return { wall: took, cpu };
};

const summary = (ts: Took[]): string => {
  const one = (xs: number[]): string => {
    const s = [...xs].sort((a, b) => a - b);
    const med = s[Math.floor(s.length / 2)] ?? NaN;
    return `${med.toFixed(0)} | ${(s[0] ?? NaN).toFixed(0)}–${(s[s.length - 1] ?? NaN).toFixed(0)}`;
  };
  return `${one(ts.map((t) => t.wall))} | ${one(ts.map((t) => t.cpu))}`;
};

const main = async (): Promise<void> => {
  const one = join(dir, 'one.log');
  writeFileSync(one, 'the first line\n');
  const backlog = join(dir, 'backlog.log');
  const backlogBytes = makeInput(backlog, BACKLOG);
  const nodeE0: Took[] = [];
  const load: Took[] = [];
  const first: Took[] = [];
  const all: Took[] = [];
  for (let i = 0; i < RUNS; i++) {
    nodeE0.push(await nodeRun(['-e', '0']));
    load.push(await nodeRun([cli, '--version']));
    first.push(await agentRun(i, one, statSync(one).size));
    all.push(await agentRun(i, backlog, backlogBytes));
  }
  console.log(`${RUNS} runs each, alternating, 2 cores shared; milliseconds from spawn\n`);
  console.log('| what | median ms | range ms | CPU ms, median | CPU ms, range |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  console.log(`| \`node -e 0\` (spawn → exit) | ${summary(nodeE0)} |`);
  console.log(`| \`sluice --version\`: loading the program (spawn → exit) | ${summary(load)} |`);
  console.log(`| \`sluice run\`: spawn → first line in the sink (fsync always, fdatasync) | ${summary(first)} |`);
  console.log(`| \`sluice run\`: spawn → a ${BACKLOG.toLocaleString('en-US')}-line backlog (${(backlogBytes / 1e6).toFixed(0)} MB) in the sink | ${summary(all)} |`);
  console.log(`\nNode ${process.version}; target: first line <= 150 ms`);
};

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dir, { recursive: true, force: true }));
