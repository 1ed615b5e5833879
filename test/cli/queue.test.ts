/**
 * `sluice queue inspect|verify` through the real CLI: the numbers of a queue written with known
 * records, ingest times and two sinks at different cursors; a flipped byte found with its file,
 * offset and ids; and both commands beside a running agent, changing nothing (file hashes) and
 * never taking a write in progress for damage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeEnvelope } from '../../src/core/envelope';
import { FRAME_HEADER, FRAME_MAGIC_BYTES } from '../../src/queue/format';
import { openQueue } from '../../src/queue';
import { cli, readIfAny, startAgent, waitFor, withTempDir, writeConfig } from '../agent/helpers';

const RECORDS = 10;
const EVENTS = 100;
const MINUTE = 60_000;

interface InspectJson {
  agent_pid: number | null;
  segments: { file: string; size: number; records: number; events: number; first_record_id: number | null; last_record_id: number | null; age_seconds: number | null }[];
  total_bytes: number;
  max_bytes: number;
  head_id: number;
  oldest_unacked_age_seconds: number | null;
  sinks: Record<string, { configured: boolean; cursor: number | null; cursor_state: string; backlog_events: number; backlog_bytes: number; oldest_unacked_age_seconds: number | null }>;
  damaged: number;
}

interface VerifyJson {
  damaged: number;
  findings: { severity: string; file: string; offset: number | null; first_id: number | null; last_id: number | null; what: string }[];
}

const CONFIG = `data_dir: ./data\nqueue:\n  max_bytes: 64MiB\nsources:\n  app:\n    type: stdin\nsinks:\n  fast:\n    type: stdout\n    inputs: [app]\n  slow:\n    type: stdout\n    inputs: [app]\n`;

/**
 * Writes RECORDS records of EVENTS events each (record i ingested i - RECORDS minutes ago) into
 * `<dir>/data/queue`; sink `fast` acknowledges 6 records, `slow` 2. Returns each record's frame size.
 */
const writeQueue = async (dir: string): Promise<{ frameBytes: number[]; ingest: number[] }> => {
  // `gone`: a sink removed from the config since; its cursor file (at 0) stays and holds segments back.
  const q = await openQueue({ dir: join(dir, 'data', 'queue'), consumers: ['fast', 'slow', 'gone'], segmentBytes: 8192, maxBytes: 1 << 20 });
  const frameBytes: number[] = [];
  const ingest: number[] = [];
  const now = Date.now();
  for (let i = 0; i < RECORDS; i++) {
    let lines = '';
    for (let j = 0; j < EVENTS; j++) lines += `record ${i} line ${j} ${'x'.repeat(i)}\n`;
    const at = now - (RECORDS - i) * MINUTE;
    const payload = encodeEnvelope('lines', 'app', 'stdin', at, Buffer.from(lines));
    await q.append(payload, { events: EVENTS });
    frameBytes.push(FRAME_HEADER + payload.length);
    ingest.push(at);
  }
  await q.consumer('gone').flushCursor();
  for (const [name, n] of [['fast', 6], ['slow', 2]] as const) {
    const c = q.consumer(name);
    let got = 0;
    while (got < n) {
      for (const r of await c.read({ maxRecords: n - got })) {
        c.ack(r.id);
        got++;
      }
    }
    await c.flushCursor();
  }
  await q.close();
  return { frameBytes, ingest };
};

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

const hashes = async (dir: string): Promise<Map<string, string>> => {
  const out = new Map<string, string>();
  for (const name of (await readdir(dir)).sort()) out.set(name, createHash('sha256').update(await readFile(join(dir, name))).digest('hex'));
  return out;
};

test('queue inspect shows every segment and each sink`s cursor, backlog in events and bytes, and oldest unacked age', async () => {
  await withTempDir(async (dir) => {
    const { frameBytes } = await writeQueue(dir);
    await writeConfig(dir, CONFIG);
    const r = cli(['queue', 'inspect', '--json'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as InspectJson;
    const qdir = join(dir, 'data', 'queue');
    const files = (await readdir(qdir)).filter((n) => n.startsWith('seg-')).sort();
    assert.ok(files.length >= 3, `8 KiB segments should hold the ${RECORDS} records in several files: ${files.join(', ')}`);
    assert.deepEqual(j.segments.map((s) => s.file), files);
    for (const s of j.segments) assert.equal(s.size, (await stat(join(qdir, s.file))).size, s.file);
    assert.equal(j.total_bytes, sum(j.segments.map((s) => s.size)));
    assert.equal(j.max_bytes, 64 << 20);
    assert.equal(sum(j.segments.map((s) => s.records)), RECORDS);
    assert.equal(sum(j.segments.map((s) => s.events)), RECORDS * EVENTS);
    assert.equal(j.segments[0]?.first_record_id, 0);
    assert.equal(j.segments.at(-1)?.last_record_id, (RECORDS - 1) * EVENTS);
    assert.equal(j.head_id, RECORDS * EVENTS);
    // The oldest segment holds record 0, ingested RECORDS minutes ago.
    assert.ok(Math.abs((j.segments[0]?.age_seconds ?? 0) - RECORDS * 60) < 30, `age ${j.segments[0]?.age_seconds}`);

    assert.deepEqual(
      { cursor: j.sinks.fast?.cursor, state: j.sinks.fast?.cursor_state, events: j.sinks.fast?.backlog_events, bytes: j.sinks.fast?.backlog_bytes },
      { cursor: 6 * EVENTS, state: 'ok', events: 4 * EVENTS, bytes: sum(frameBytes.slice(6)) },
    );
    assert.deepEqual(
      { cursor: j.sinks.slow?.cursor, state: j.sinks.slow?.cursor_state, events: j.sinks.slow?.backlog_events, bytes: j.sinks.slow?.backlog_bytes },
      { cursor: 2 * EVENTS, state: 'ok', events: 8 * EVENTS, bytes: sum(frameBytes.slice(2)) },
    );
    // slow's oldest unacked record is record 2 (8 minutes old), fast's record 6 (4 minutes).
    assert.ok(Math.abs((j.sinks.slow?.oldest_unacked_age_seconds ?? 0) - 8 * 60) < 30, JSON.stringify(j.sinks.slow));
    assert.ok(Math.abs((j.sinks.fast?.oldest_unacked_age_seconds ?? 0) - 4 * 60) < 30, JSON.stringify(j.sinks.fast));
    assert.equal(j.oldest_unacked_age_seconds, j.sinks.slow?.oldest_unacked_age_seconds, 'the oldest of the configured sinks');
    assert.deepEqual(
      { configured: j.sinks.gone?.configured, cursor: j.sinks.gone?.cursor, events: j.sinks.gone?.backlog_events },
      { configured: false, cursor: 0, events: RECORDS * EVENTS },
    );
    assert.equal(j.damaged, 0);

    const text = cli(['queue', 'inspect', '--config', 'sluice.yaml'], { cwd: dir });
    assert.equal(text.code, 0, text.stderr);
    for (const f of files) assert.match(text.stdout, new RegExp(f.replace('.', '\\.')));
    assert.match(text.stdout, /^slow\s+200\s+800\s+/m);
    assert.match(text.stdout, /^fast\s+600\s+400\s+/m);
    assert.match(text.stdout, /no agent running/);
    assert.match(text.stdout, /^gone \(not in config\)\s+0\s+1000\s+/m);
  });
});

test('queue verify exits 0 on a clean queue and on a torn tail, and 1 on a flipped byte, naming the segment, the byte offset and the ids lost', async () => {
  await withTempDir(async (dir) => {
    await writeQueue(dir);
    await writeConfig(dir, CONFIG);
    const clean = cli(['queue', 'verify'], { cwd: dir });
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.match(clean.stdout, /no damage/);

    // Half a frame at the end of the last segment (a write cut short by kill -9): reported, not damage.
    const qdir = join(dir, 'data', 'queue');
    const segs = (await readdir(qdir)).filter((n) => n.startsWith('seg-')).sort();
    const last = join(qdir, segs.at(-1) as string);
    const intact = await readFile(last);
    const torn = Buffer.alloc(300, 7);
    FRAME_MAGIC_BYTES.copy(torn, 0);
    torn.writeUInt32LE(4096, 8);
    await appendFile(last, torn);
    const t = cli(['queue', 'verify'], { cwd: dir });
    assert.equal(t.code, 0, t.stdout + t.stderr);
    assert.match(t.stdout, new RegExp(`^note +${segs.at(-1)?.replace('.', '\\.')} at byte offset ${intact.length} \\(300 bytes\\): torn tail`, 'm'));
    await writeFile(last, intact);

    // The second frame holding data in the second segment: find it by its magic, flip a payload byte.
    const seg = (await readdir(qdir)).filter((n) => n.startsWith('seg-')).sort()[1] as string;
    const bytes = await readFile(join(qdir, seg));
    const frames: number[] = [];
    for (let at = bytes.indexOf(FRAME_MAGIC_BYTES); at >= 0; at = bytes.indexOf(FRAME_MAGIC_BYTES, at + 1)) frames.push(at);
    const dataFrames = frames.filter((at) => bytes[at + 12] === 1);
    const victim = dataFrames[1];
    assert.ok(victim !== undefined, `${seg} should hold two data frames`);
    const id = bytes.readUInt32LE(victim + 16);
    bytes[victim + FRAME_HEADER + 20] = (bytes[victim + FRAME_HEADER + 20] ?? 0) ^ 0x40;
    await writeFile(join(qdir, seg), bytes);

    const r = cli(['queue', 'verify'], { cwd: dir });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^DAMAGE ${seg.replace('.', '\\.')} at byte offset ${victim} .*a frame whose checksum .*record ids ${id}\\.\\.${id + EVENTS - 1} lost`, 'm'));
    const j = JSON.parse(cli(['queue', 'verify', '--json'], { cwd: dir }).stdout) as VerifyJson;
    assert.equal(j.damaged, 1);
    assert.deepEqual(
      j.findings.filter((f) => f.severity === 'damage').map((f) => [f.file, f.offset, f.first_id, f.last_id]),
      [[seg, victim, id, id + EVENTS - 1]],
    );
    // Nothing was repaired: the flipped byte is still there, and inspect points at verify.
    assert.deepEqual(await readFile(join(qdir, seg)), bytes);
    assert.match(cli(['queue', 'inspect'], { cwd: dir }).stdout, /1 damaged region\(s\) or file\(s\): run sluice queue verify/);

    // The end of an older segment damaged: one finding, the ids up to the next segment's first id.
    bytes[victim + FRAME_HEADER + 20] = (bytes[victim + FRAME_HEADER + 20] ?? 0) ^ 0x40;
    await writeFile(join(qdir, seg), bytes);
    const first = await readFile(join(qdir, segs[0] as string));
    const lastFrame = first.lastIndexOf(FRAME_MAGIC_BYTES);
    const lastId = first.readUInt32LE(lastFrame + 16);
    first.fill(0x55, first.length - 10);
    await writeFile(join(qdir, segs[0] as string), first);
    const older = JSON.parse(cli(['queue', 'verify', '--json'], { cwd: dir }).stdout) as VerifyJson;
    assert.deepEqual(
      older.findings.filter((f) => f.severity === 'damage').map((f) => [f.file, f.offset, f.first_id, f.last_id]),
      [[segs[0], lastFrame, lastId, Number(segs[1]?.slice(4, 24)) - 1]],
    );
  });
});

test('queue inspect and verify beside a running agent change no byte, take no lock, and never call a write in progress damage', async () => {
  await withTempDir(async (dir) => {
    await mkdir(join(dir, 'logs'));
    await writeFile(join(dir, 'logs', 'app.log'), '');
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nqueue:\n  max_bytes: 16MiB\n  segment_bytes: 2MiB\nsources:\n  app:\n    type: file\n    include: ["./logs/app.log"]\n    read_buffer_bytes: 512KiB\n` +
        `sinks:\n  archive:\n    type: file\n    inputs: [app]\n    path: ./out.log\n`,
    );
    const agent = startAgent(cfg, { cwd: dir });
    try {
      let n = 0;
      const more = async (k: number): Promise<void> => {
        let s = '';
        for (let i = 0; i < k; i++) s += `line ${n++} ${'y'.repeat(60)}\n`;
        await appendFile(join(dir, 'logs', 'app.log'), s);
      };
      // Lines flowing (segments rolling, appends in flight) while verify and inspect read.
      const flowing = (async () => {
        for (let i = 0; i < 40; i++) {
          await more(500);
          await new Promise((r) => setTimeout(r, 25));
        }
      })();
      await waitFor('the queue directory', async () => (await readIfAny(join(dir, 'data', 'queue', 'lock'))) !== '', 20_000, agent.stderr);
      for (let i = 0; i < 3; i++) {
        const v = cli(['queue', 'verify', '--config', cfg], { cwd: dir });
        assert.equal(v.code, 0, `verify #${i} beside appends: ${v.stdout}${v.stderr}`);
        assert.match(v.stdout, new RegExp(`agent running \\(pid ${agent.child.pid}\\)`));
        assert.equal(cli(['queue', 'inspect', '--config', cfg], { cwd: dir }).code, 0);
      }
      await flowing;
      const total = n;
      await waitFor('every line delivered', async () => (await readIfAny(join(dir, 'out.log'))).split('\n').length - 1 === total, 30_000, agent.stderr);
      // Idle now; the cursor timer (1 s) has persisted the last ack once nothing changes any more.
      const qdir = join(dir, 'data', 'queue');
      await waitFor('the cursor persisted at the head', () => {
        const j = JSON.parse(cli(['queue', 'inspect', '--json', '--config', cfg], { cwd: dir }).stdout) as InspectJson;
        return j.sinks.archive?.cursor === total;
      });
      const before = await hashes(qdir);
      const v = cli(['queue', 'verify', '--config', cfg], { cwd: dir });
      const ins = cli(['queue', 'inspect', '--json', '--config', cfg], { cwd: dir });
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.equal(ins.code, 0, ins.stderr);
      const j = JSON.parse(ins.stdout) as InspectJson;
      assert.equal(j.agent_pid, agent.child.pid);
      assert.equal(j.head_id, total);
      assert.equal(j.sinks.archive?.backlog_events, 0);
      assert.deepEqual(await hashes(qdir), before, 'inspect and verify changed a file of the queue');
      assert.ok(before.has('lock'), 'the agent still holds its lock file');
    } finally {
      agent.child.kill('SIGTERM');
      await agent.exited;
    }
  });
});

test('queue inspect says in one line that data_dir does not exist yet, and queue --help explains both actions', async () => {
  await withTempDir(async (dir) => {
    await writeConfig(dir, CONFIG);
    const r = cli(['queue', 'inspect'], { cwd: dir });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /data_dir .*data \(from .*sluice\.yaml\) does not exist/);
    const h = cli(['queue', '--help'], { cwd: dir });
    assert.equal(h.code, 0);
    assert.match(h.stdout, /inspect/);
    assert.match(h.stdout, /verify/);
    const u = cli(['queue', 'check'], { cwd: dir });
    assert.equal(u.code, 2);
    assert.match(u.stderr, /unknown action "check": inspect or verify/);
  });
});
