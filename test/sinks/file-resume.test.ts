/**
 * The file sink's checkpoint (output identity + length after each delivered group) and `resume()`:
 * on start the output is cut back to the recorded length, in the file the checkpoint names, so the
 * groups delivered again after a crash are written once. Real files in a temp dir.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeEnvelope, encodeEnvelope, type Envelope } from '../../src/core/envelope';
import { createDiagnostics } from '../../src/core/diagnostics';
import { asRecordId } from '../../src/core/records';
import type { WriteResult } from '../../src/core/sink';
import { decodeCheckpoint, encodeCheckpoint, FileSink, fileSinkSchema } from '../../src/sinks/file';
import { componentContext } from '../util/context';
import type { FileSystem } from '../../src/core/ports';
import { nodeFileSystem } from '../../src/core/node-ports';

const batch = (text: string): Envelope => {
  const buf = Buffer.from(text);
  return decodeEnvelope(encodeEnvelope('lines', 'app', '/var/log/a.log', 0, buf), text.split('\n').length - 1, asRecordId(1));
};

const withDir = async (fn: (dir: string) => Promise<void>): Promise<void> => {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-file-resume-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

/** A file sink on `path` whose diagnostics land in `lines`. */
const sinkOn = (path: string, lines: string[] = []): FileSink => {
  const log = createDiagnostics({ level: 'info', write: (l: string) => void lines.push(l) });
  return new FileSink(fileSinkSchema.parse({ type: 'file', inputs: ['app'], path, encoding: 'text' }), componentContext('out', log));
};

const checkpointOf = (r: WriteResult): Uint8Array => {
  assert.equal(r.status, 'delivered');
  assert.ok(r.status === 'delivered' && r.checkpoint !== undefined, 'a delivered group carries a checkpoint');
  return r.checkpoint;
};

test('each delivered group returns the output identity and its length after the group', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'out.log');
    const sink = sinkOn(path);
    const c1 = decodeCheckpoint(checkpointOf(await sink.write([batch('a\nb\n')])));
    const c2 = decodeCheckpoint(checkpointOf(await sink.write([batch('ccc\n')])));
    await sink.close();
    const st = await stat(path);
    assert.deepEqual(c1, { dev: st.dev, ino: st.ino, size: 4 });
    assert.deepEqual(c2, { dev: st.dev, ino: st.ino, size: 8 });
  });
});

test('resume cuts bytes written after the checkpoint (a group whose cursor a crash did not save)', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'out.log');
    const lines: string[] = [];
    const sink = sinkOn(path, lines);
    const saved = checkpointOf(await sink.write([batch('one\n')]));
    await sink.write([batch('two\n')]); // delivered, but the process died before its cursor was saved
    await appendFile(path, 'thr'); // and a third group, torn
    await sink.close();
    const again = sinkOn(path, lines);
    await again.resume(saved);
    assert.equal(await readFile(path, 'utf8'), 'one\n');
    assert.ok(lines.some((l) => /cut 7 bytes off the end of .*out\.log/.test(l)), lines.join('\n'));
    await again.write([batch('two\n')]);
    await again.close();
    assert.equal(await readFile(path, 'utf8'), 'one\ntwo\n');
  });
});

test('resume leaves a file at its recorded length, and a shorter one (truncated by someone else) with a warning', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'out.log');
    const lines: string[] = [];
    const sink = sinkOn(path, lines);
    const saved = checkpointOf(await sink.write([batch('one\ntwo\n')]));
    await sink.close();
    const a = sinkOn(path, lines);
    await a.resume(saved);
    await a.close();
    assert.equal(await readFile(path, 'utf8'), 'one\ntwo\n');
    assert.equal(lines.length, 0, lines.join('\n'));
    await truncate(path, 4);
    const b = sinkOn(path, lines);
    await b.resume(saved);
    await b.close();
    assert.equal(await readFile(path, 'utf8'), 'one\n');
    assert.ok(lines.some((l) => l.includes('shorter (4 bytes) than the sink had written and synced (8 bytes)')), lines.join('\n'));
  });
});

test('the output rotated away after the checkpoint: the rotated file is cut, the new file keeps its own length', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'out.log');
    const sink = sinkOn(path);
    const saved = checkpointOf(await sink.write([batch('one\n')]));
    await sink.write([batch('two\n')]); // no cursor saved for this one
    await sink.close();
    await rename(path, join(dir, 'out.log.1')); // logrotate, while the agent was down
    await writeFile(path, 'someone-elses-line\n');
    const again = sinkOn(path);
    await again.resume(saved);
    await again.close();
    assert.equal(await readFile(join(dir, 'out.log.1'), 'utf8'), 'one\n', 'the rotated file, found by its identity, is cut');
    assert.equal(await readFile(path, 'utf8'), 'someone-elses-line\n', 'a new file at the path is not the recorded one: untouched');
  });
});

test('the output deleted since the checkpoint: nothing is cut, the output is created again', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'out.log');
    const sink = sinkOn(path);
    const saved = checkpointOf(await sink.write([batch('one\n')]));
    await sink.close();
    await rm(path);
    const again = sinkOn(path);
    await again.resume(saved);
    await again.write([batch('two\n')]);
    await again.close();
    assert.equal(await readFile(path, 'utf8'), 'two\n');
  });
});

test('resume without a checkpoint (a first start) returns the output as it is, so a crash before the first save cuts back to it', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'out.log');
    await writeFile(path, 'from before the agent\n');
    const sink = sinkOn(path);
    const atStart = await sink.resume(null);
    assert.deepEqual(decodeCheckpoint(atStart), { dev: (await stat(path)).dev, ino: (await stat(path)).ino, size: 22 });
    await sink.write([batch('first group, its cursor never saved\n')]);
    await sink.close();
    const again = sinkOn(path);
    await again.resume(atStart);
    await again.close();
    assert.equal(await readFile(path, 'utf8'), 'from before the agent\n');
    // A missing output is created by resume, at length 0.
    const fresh = sinkOn(join(dir, 'new', 'out.log'));
    assert.equal(decodeCheckpoint(await fresh.resume(null))?.size, 0);
    await fresh.close();
    assert.equal(await readFile(join(dir, 'new', 'out.log'), 'utf8'), '');
  });
});

test('a checkpoint this version does not know is ignored with a warning', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'out.log');
    await writeFile(path, 'keep\n');
    const lines: string[] = [];
    const sink = sinkOn(path, lines);
    await sink.resume(Buffer.from('not a checkpoint'));
    await sink.close();
    assert.equal(await readFile(path, 'utf8'), 'keep\n');
    assert.ok(lines.some((l) => l.includes('not one this version writes')), lines.join('\n'));
  });
});

test('concurrent writes are serialized in call order, so checkpoints grow in record order', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'out.log');
    const sink = sinkOn(path);
    const results = await Promise.all([sink.write([batch('a\n')]), sink.write([batch('bb\n')]), sink.write([batch('ccc\n')])]);
    await sink.close();
    assert.deepEqual(results.map((r) => decodeCheckpoint(checkpointOf(r))?.size), [2, 5, 9]);
    assert.equal(await readFile(path, 'utf8'), 'a\nbb\nccc\n');
  });
});

test('SIGHUP after a rename rotation: prepare() answers the new file checkpoint before its first group, so a crash then cuts the new file', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'out.log');
    const sink = sinkOn(path);
    assert.notEqual(await sink.prepare(), null, 'the first open is a new destination');
    checkpointOf(await sink.write([batch('one\n')]));
    assert.equal(await sink.prepare(), null, 'no change: nothing to save');
    await rename(path, join(dir, 'out.log.1')); // logrotate renames and sends SIGHUP
    sink.reopen();
    const fresh = decodeCheckpoint((await sink.prepare()) ?? Buffer.alloc(0));
    const st = await stat(path);
    assert.deepEqual(fresh, { dev: st.dev, ino: st.ino, size: 0 }, 'the new file, from its own length, before any write');
    await sink.write([batch('two\n')]); // written, then the agent died before this group's cursor was saved
    await sink.close();
    const again = sinkOn(path);
    await again.resume(encodeCheckpoint(st, 0));
    await again.close();
    assert.equal(await readFile(path, 'utf8'), '', 'the unsaved group is cut from the new file');
    assert.equal(await readFile(join(dir, 'out.log.1'), 'utf8'), 'one\n');
  });
});

test('the output deleted under the sink (no SIGHUP): prepare() reopens the path and answers the new file', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'out.log');
    const sink = sinkOn(path);
    await sink.write([batch('one\n')]);
    await rm(path);
    const fresh = decodeCheckpoint((await sink.prepare()) ?? Buffer.alloc(0));
    await sink.write([batch('two\n')]);
    await sink.close();
    const st = await stat(path);
    assert.deepEqual(fresh, { dev: st.dev, ino: st.ino, size: 0 });
    assert.equal(await readFile(path, 'utf8'), 'two\n');
  });
});

test('a failed write whose undo cannot cut its partial bytes away: the retry cuts them first, so the output holds the group once and whole', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'out.log');
    // The real file system, except: the second writev writes half its bytes and fails (EIO), and
    // the first ftruncate after it fails too (the undo's).
    let writes = 0;
    let failTruncate = false;
    const faulty: FileSystem = {
      ...nodeFileSystem,
      open: async (p, mode) => {
        const fh = await nodeFileSystem.open(p, mode);
        return {
          ...fh,
          writev: async (bufs) => {
            if (++writes !== 2) return fh.writev(bufs);
            const all = Buffer.concat(bufs);
            await fh.writev([all.subarray(0, all.length >> 1)]);
            failTruncate = true;
            throw Object.assign(new Error('EIO: i/o error (injected)'), { code: 'EIO' });
          },
          truncate: async (n) => {
            if (failTruncate) {
              failTruncate = false;
              throw Object.assign(new Error('EIO: i/o error (injected)'), { code: 'EIO' });
            }
            return fh.truncate(n);
          },
          read: (...a) => fh.read(...a),
          datasync: () => fh.datasync(),
          writeAt: (d, at) => fh.writeAt(d, at),
          stat: () => fh.stat(),
          close: () => fh.close(),
        };
      },
    };
    const log = createDiagnostics({ level: 'silent' });
    const sink = new FileSink(fileSinkSchema.parse({ type: 'file', inputs: ['app'], path, encoding: 'text' }), { ...componentContext('out', log), fs: faulty });
    await sink.write([batch('one\n')]);
    await assert.rejects(sink.write([batch('two two two\n')]), /EIO/);
    const retried = decodeCheckpoint(checkpointOf(await sink.write([batch('two two two\n')])));
    await sink.close();
    assert.equal(await readFile(path, 'utf8'), 'one\ntwo two two\n');
    assert.equal(retried?.size, 16, 'the checkpoint counts the bytes that are there');
  });
});

test('a directory fsync that fails after the output was created is made on the next open, not skipped because the file now exists', async () => {
  await withDir(async (dir) => {
    const out = join(dir, 'sub');
    const path = join(out, 'out.log');
    // The real file system, except that the first fsync of the output's directory fails (EIO).
    const synced: string[] = [];
    let failed = false;
    const faulty: FileSystem = {
      ...nodeFileSystem,
      syncDir: async (d) => {
        if (d === out && !failed) {
          failed = true;
          throw Object.assign(new Error('EIO: i/o error (injected)'), { code: 'EIO' });
        }
        await nodeFileSystem.syncDir(d);
        synced.push(d);
      },
    };
    const log = createDiagnostics({ level: 'silent' });
    const sink = new FileSink(fileSinkSchema.parse({ type: 'file', inputs: ['app'], path, encoding: 'text' }), { ...componentContext('out', log), fs: faulty });
    await assert.rejects(sink.write([batch('one\n')]), /EIO/);
    synced.length = 0;
    await sink.write([batch('one\n')]);
    await sink.close();
    assert.ok(synced.includes(out), `the output's directory is synced before the first group in it is delivered (synced: ${synced.join(', ')})`);
    assert.ok(synced.includes(dir), 'and the directories above it');
    assert.equal(await readFile(path, 'utf8'), 'one\n');
  });
});
