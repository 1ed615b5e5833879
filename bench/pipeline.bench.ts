/**
 * The agent end to end: a 2,000,000-line file (~100 bytes a line) tailed from the beginning into a
 * file sink, queue `fsync: always`. Spawns the real CLI, detects completion by the sink file reaching
 * the input's size, reads the agent's CPU time and peak RSS from /proc, then SIGTERMs it.
 * References measured in the same run: `cat in > out` of the same file (the floor), and `dd` copying
 * it in 1 MiB writes each made durable before the next (`oflag=dsync`: what one fdatasync per
 * batch costs on this disk, without any of the agent's work). Also printed: the agent's RSS idle
 * (started on an empty file) and once the run is done.
 *
 *   npm run bench -- pipeline            (LINES=500000 to try a smaller file;
 *                                         SLUICE_CLI=/other/checkout/dist/src/cli/main.js to measure another build)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeInput, procStat, sleep } from './agent-util';

const LINES = Number(process.env['LINES'] ?? 2_000_000);
const cli = process.env['SLUICE_CLI'] ?? join(__dirname, '..', 'src', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-pipeline-'));


interface Row {
  name: string;
  seconds: number;
  cpuS: number | undefined;
  rssMB: number | undefined;
  /** RSS once the run is done and the agent idles. */
  afterMB?: number;
}

const rssOf = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const exited = (c: ChildProcess): Promise<number | null> =>
  c.exitCode !== null ? Promise.resolve(c.exitCode) : new Promise((r) => c.on('exit', (code) => r(code)));

const runCat = (input: string): Row => {
  const out = join(dir, 'cat.out');
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S %M', 'sh', '-c', `cat '${input}' > '${out}'`], { encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const m = /([\d.]+) ([\d.]+) (\d+)\s*$/.exec(r.stderr ?? '');
  rmSync(out, { force: true });
  return {
    name: '`cat in > out` (floor)',
    seconds,
    cpuS: m ? Number(m[1]) + Number(m[2]) : undefined,
    rssMB: m ? Number(m[3]) / 1024 : undefined,
  };
};

const runDd = (input: string): Row => {
  const out = join(dir, 'dd.out');
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S %M', 'dd', `if=${input}`, `of=${out}`, 'bs=1M', 'oflag=dsync', 'status=none'], { encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const m = /([\d.]+) ([\d.]+) (\d+)\s*$/.exec(r.stderr ?? '');
  rmSync(out, { force: true });
  return { name: '`dd bs=1M oflag=dsync` (write + fdatasync per MiB)', seconds, cpuS: m ? Number(m[1]) + Number(m[2]) : undefined, rssMB: m ? Number(m[3]) / 1024 : undefined };
};

/** RSS of an agent tailing an empty file, after it has settled. */
const idleAgent = async (): Promise<number> => {
  const input = join(dir, 'idle.log');
  writeFileSync(input, '');
  const config = join(dir, 'idle.yaml');
  writeFileSync(
    config,
    `data_dir: ${join(dir, 'idle-data')}\nsources:\n  app:\n    type: file\n    include: ["${input}"]\nsinks:\n  archive:\n    type: file\n    inputs: [app]\n    path: ${join(dir, 'idle.out')}\n`,
  );
  const child = spawn(process.execPath, [cli, 'run', '--config', config, '--log-level', 'warn'], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (child.pid === undefined) throw new Error('spawn failed');
  await sleep(3000);
  const rss = rssOf(child.pid);
  child.kill('SIGTERM');
  await exited(child);
  return rss;
};

const runAgent = async (input: string, bytes: number, maxBytes?: string): Promise<Row> => {
  rmSync(join(dir, 'data'), { recursive: true, force: true });
  rmSync(join(dir, 'sink.log'), { force: true });
  const data = join(dir, 'data');
  const out = join(dir, 'sink.log');
  const config = join(dir, 'sluice.yaml');
  writeFileSync(
    config,
    `data_dir: ${data}\nqueue:\n  fsync: always\n${maxBytes ? `  max_bytes: ${maxBytes}\n` : ''}sources:\n  app:\n    type: file\n    include: ["${input}"]\n    start_at: beginning\n` +
      `sinks:\n  archive:\n    type: file\n    inputs: [app]\n    path: ${out}\n    encoding: text\n`,
  );
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [cli, 'run', '--config', config, '--log-level', 'warn'], { stdio: ['ignore', 'inherit', 'inherit'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error('spawn failed');
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let size: number;
  let last = { cpuS: 0, hwmMB: 0 };
  for (;;) {
    try {
      size = statSync(out).size;
    } catch {
      size = 0;
    }
    try {
      last = procStat(pid);
    } catch {
      break;
    }
    if (size >= bytes) break;
    await sleep(10);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await sleep(1000);
  let afterMB: number | undefined;
  try {
    afterMB = rssOf(pid);
  } catch {
    afterMB = undefined;
  }
  child.kill('SIGTERM');
  const code = await exited;
  if (size !== bytes) throw new Error(`sink has ${size} bytes, expected ${bytes} (agent exit ${String(code)})`);
  if (code !== 0) throw new Error(`agent exited with ${String(code)}`);
  const outBuf = readFileSync(out);
  if (!outBuf.equals(readFileSync(input))) throw new Error('sink file differs from the input');
  const name = maxBytes
    ? `same, \`max_bytes: ${maxBytes}\``
    : '`sluice run` file → queue (fsync always) → file';
  return afterMB === undefined ? { name, seconds, cpuS: last.cpuS, rssMB: last.hwmMB } : { name, seconds, cpuS: last.cpuS, rssMB: last.hwmMB, afterMB };
};

const main = async (): Promise<void> => {
  const input = join(dir, 'in.log');
  const bytes = makeInput(input, LINES);
  const mb = bytes / 1e6;
  const cat = runCat(input);
  const dd = runDd(input);
  const agent = await runAgent(input, bytes);
  const small = await runAgent(input, bytes, '64MiB');
  const idle = await idleAgent();
  const rows = [cat, dd, agent, small];
  const f = (n: number | undefined, d = 2): string => (n === undefined ? 'n/a' : n.toFixed(d));
  console.log(`${LINES.toLocaleString('en-US')} lines, ${mb.toFixed(1)} MB, 2 cores shared; \`fsync: always\` on the queue, fdatasync per delivered group on the sink\n`);
  console.log('| run | seconds | lines/s | MB/s | CPU s | peak RSS MB | RSS after, idle MB | time vs cat |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    console.log(
      `| ${r.name} | ${f(r.seconds)} | ${Math.round(LINES / r.seconds).toLocaleString('en-US')} | ${f(mb / r.seconds, 1)} | ${f(r.cpuS)} | ${f(r.rssMB, 1)} | ${r.afterMB === undefined ? '' : f(r.afterMB, 1)} | ${f(r.seconds / cat.seconds, 1)}× |`,
    );
  }
  console.log(`\nidle agent (tailing an empty file, after 3 s): RSS ${f(idle, 1)} MB`);
  console.log(`agent: ${f(LINES / (agent.cpuS ?? NaN) / 1e6)} M lines per CPU second (the figure a loaded machine disturbs least)`);
  console.log(`\ntarget: >= 2,000,000 lines/s and peak RSS < 80 MB for the agent`);
};

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dir, { recursive: true, force: true }));
