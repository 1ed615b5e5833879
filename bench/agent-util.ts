/** What the agent benchmarks share: the input file they tail, a child's CPU and peak RSS, a sleep. */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';

const TICK = 100; // USER_HZ on Linux

/** Writes `lines` lines of ~100 bytes to `path`; returns the bytes written. */
export const makeInput = (path: string, lines: number): number => {
  const fd = openSync(path, 'w');
  const pad = 'x'.repeat(100);
  let chunk = '';
  let bytes = 0;
  for (let i = 0; i < lines; i++) {
    // ~100 bytes: a timestamp-ish prefix, a counter, padding to 99 chars + newline
    const head = `2026-11-26T15:00:00.000Z INFO request id=${i} path=/api/v1/items status=200 `;
    chunk += `${head}${pad.slice(0, Math.max(1, 99 - head.length))}\n`;
    if (chunk.length > 1 << 20) {
      bytes += writeSync(fd, chunk);
      chunk = '';
    }
  }
  bytes += writeSync(fd, chunk);
  closeSync(fd);
  return bytes;
};

/** CPU seconds (user + system) and peak RSS (VmHWM) of a live process, from /proc. */
export const procStat = (pid: number): { cpuS: number; hwmMB: number } => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuS: (utime + stime) / TICK, hwmMB: hwm / 1024 };
};

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
