/**
 * Preloaded into the agent by the soak benchmark (`node --expose-gc --require soak-hook.js`): on
 * SIGUSR2 it runs a full garbage collection and writes one line to stderr,
 * `SOAK <heapUsed after GC> <heapTotal> <rss> <arrayBuffers>` in bytes. Only the benchmark uses it.
 */
process.on('SIGUSR2', () => {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  process.stderr.write(`SOAK ${m.heapUsed} ${m.heapTotal} ${m.rss} ${m.arrayBuffers}\n`);
});
