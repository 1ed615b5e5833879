/**
 * End-to-end latency on the durable path: a writer process appends lines at a steady rate
 * (default 10,000 lines/s for 10 s), each stamped with the monotonic clock; a probe process follows
 * the destination file and takes, per line, the clock at its arrival minus its stamp. Measured in
 * the same run, through the same writer and probe:
 *
 *  - `tail -F in > out`: the floor (a follower that reacts to inotify at once, no durability);
 *  - the durable floor (./latency-fsync-ref.ts): the same follower, but what it reads is appended
 *    to a stand-in queue file and fdatasynced, then appended to the output and fdatasynced — the
 *    two fdatasyncs in series the agent's path needs, and nothing else: what the disk costs;
 *  - `sluice run`: file source → queue (`fsync: always`, an fdatasync per group commit) → file sink
 *    (an fdatasync per delivered group). A line counts once it is in the sink's file.
 *
 * Then the agent is left idle for 10 s and its CPU time over them is printed (it should be ~0:
 * nothing polls fast or spins), with its RSS.
 *
 *   npm run bench -- latency        (RATE=20000 DURATION_S=5 RUNS=3 to change the load and repeat)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { procStat, sleep } from './agent-util';

const RATE = Number(process.env['RATE'] ?? 10_000);
const SECONDS = Number(process.env['DURATION_S'] ?? 10);
const RUNS = Number(process.env['RUNS'] ?? 1);
const IDLE_S = 10;
const cli = process.env['SLUICE_CLI'] ?? join(__dirname, '..', 'src', 'cli', 'main.js');
const writerJs = join(__dirname, 'latency-writer.js');
const probeJs = join(__dirname, 'latency-probe.js');
const fsyncRefJs = join(__dirname, 'latency-fsync-ref.js');
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-latency-'));

interface Stats {
  lines: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

const exited = (c: ChildProcess): Promise<number | null> =>
  c.exitCode !== null ? Promise.resolve(c.exitCode) : new Promise((r) => c.on('exit', (code) => r(code)));

/** Waits until `file` holds `text`. */
const waitFor = async (file: string, text: string, what: string): Promise<void> => {
  for (let i = 0; i < 3000; i++) {
    try {
      if (readFileSync(file, 'latin1').includes(text)) return;
    } catch {
      // not there yet
    }
    await sleep(5);
  }
  throw new Error(`${what}: ${text.trim()} never reached ${file}`);
};

/** Writer → IN, probe ← OUT: the latency of every line past the first second (the warm-up). */
const measure = async (input: string, output: string): Promise<Stats> => {
  const total = Math.round(RATE * SECONDS);
  const warm = Math.min(RATE, Math.floor(total / 2));
  const probe = spawn(process.execPath, [probeJs, output, String(total - warm), String(warm)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  probe.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const writer = spawn(process.execPath, [writerJs, input, String(RATE), String(SECONDS)], { stdio: 'inherit' });
  const deadline = setTimeout(() => probe.kill('SIGKILL'), (SECONDS + 60) * 1000);
  const [code] = await Promise.all([exited(probe), exited(writer)]);
  clearTimeout(deadline);
  if (code !== 0) throw new Error(`probe exited with ${String(code)} (lines missing from ${output}?)`);
  return JSON.parse(out) as Stats;
};

const runTail = async (n: number): Promise<Stats> => {
  const input = join(dir, `tail-${n}.in`);
  const output = join(dir, `tail-${n}.out`);
  writeFileSync(input, 'ready 0 -\n');
  const tail = spawn('sh', ['-c', `exec tail -n +1 -F '${input}' > '${output}'`], { stdio: 'ignore' });
  try {
    await waitFor(output, 'ready 0', 'tail -F');
    return await measure(input, output);
  } finally {
    tail.kill('SIGKILL');
    await exited(tail);
  }
};

const runFsyncRef = async (n: number): Promise<Stats> => {
  const input = join(dir, `ref-${n}.in`);
  const output = join(dir, `ref-${n}.out`);
  writeFileSync(input, 'ready 0 -\n');
  const ref = spawn(process.execPath, [fsyncRefJs, input, join(dir, `ref-${n}.queue`), output], { stdio: 'inherit' });
  try {
    await waitFor(output, 'ready 0', 'durable floor');
    return await measure(input, output);
  } finally {
    ref.kill('SIGTERM');
    await exited(ref);
  }
};

interface AgentRun extends Stats {
  idleCpuS: number;
  idleRssMB: number;
  peakRssMB: number;
}

const runAgent = async (n: number): Promise<AgentRun> => {
  const input = join(dir, `agent-${n}.in`);
  const output = join(dir, `agent-${n}.out`);
  const config = join(dir, `agent-${n}.yaml`);
  writeFileSync(input, 'ready 0 -\n');
  writeFileSync(
    config,
    `data_dir: ${join(dir, `data-${n}`)}\nqueue:\n  fsync: always\nsources:\n  app:\n    type: file\n    include: ["${input}"]\n    start_at: beginning\n` +
      `sinks:\n  archive:\n    type: file\n    inputs: [app]\n    path: ${output}\n    encoding: text\n`,
  );
  const agent = spawn(process.execPath, [cli, 'run', '--config', config, '--log-level', 'warn'], { stdio: ['ignore', 'inherit', 'inherit'] });
  const pid = agent.pid;
  if (pid === undefined) throw new Error('spawn failed');
  try {
    await waitFor(output, 'ready 0', 'sluice');
    const stats = await measure(input, output);
    await sleep(500);
    const before = procStat(pid);
    await sleep(IDLE_S * 1000);
    const after = procStat(pid);
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    return { ...stats, idleCpuS: after.cpuS - before.cpuS, idleRssMB: rss, peakRssMB: after.hwmMB };
  } finally {
    agent.kill('SIGTERM');
    const code = await exited(agent);
    if (code !== 0) process.stderr.write(`agent exited with ${String(code)}\n`);
  }
};

const main = async (): Promise<void> => {
  const f = (x: number, d = 2): string => x.toFixed(d);
  const rows: string[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = await runTail(i);
    const d = await runFsyncRef(i);
    const a = await runAgent(i);
    rows.push(`| \`tail -F in > out\` (floor) | ${t.lines} | ${f(t.p50)} | ${f(t.p90)} | ${f(t.p99)} | ${f(t.p999)} | ${f(t.max)} | | |`);
    rows.push(`| durable floor: read, write + fdatasync, write + fdatasync | ${d.lines} | ${f(d.p50)} | ${f(d.p90)} | ${f(d.p99)} | ${f(d.p999)} | ${f(d.max)} | | |`);
    rows.push(
      `| \`sluice run\` file → queue (fsync always) → file (fdatasync) | ${a.lines} | ${f(a.p50)} | ${f(a.p90)} | ${f(a.p99)} | ${f(a.p999)} | ${f(a.max)} | ${f(a.idleCpuS, 3)} s | ${f(a.idleRssMB, 1)} / ${f(a.peakRssMB, 1)} MB |`,
    );
  }
  console.log(`${RATE.toLocaleString('en-US')} lines/s for ${SECONDS} s (the first second not counted), ${RUNS} run(s), 2 cores shared; write → line in the destination file, ms\n`);
  console.log(`| follower | lines | p50 | p90 | p99 | p99.9 | max | agent CPU over ${IDLE_S} s idle | agent RSS idle / peak |`);
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) console.log(r);
  console.log('\ntarget: p50 <= 3 ms, p99 <= 10 ms for the agent; idle CPU ~0');
};

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dir, { recursive: true, force: true }));
