/**
 * `mkdirpDurable`: every directory it creates is made durable (its parent fsynced) before it
 * resolves — also when an earlier call created it and then failed on that fsync.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdirpDurable } from '../../src/core/durable-dirs';
import { nodeFileSystem } from '../../src/core/node-ports';
import type { FileSystem } from '../../src/core/ports';

/** The real file system, recording `syncDir` calls and failing the next `failures` of them with EIO. */
const recording = (): { fs: FileSystem; synced: string[]; fail: (n: number) => void } => {
  const synced: string[] = [];
  let failures = 0;
  const fs: FileSystem = Object.create(nodeFileSystem, {
    syncDir: {
      value: async (dir: string): Promise<void> => {
        if (failures > 0) {
          failures--;
          throw Object.assign(new Error(`EIO: i/o error, fsync '${dir}'`), { code: 'EIO' });
        }
        synced.push(dir);
        await nodeFileSystem.syncDir(dir);
      },
    },
  }) as FileSystem;
  return { fs, synced, fail: (n) => (failures = n) };
};

test('mkdirpDurable fsyncs the parent of every directory it creates, parents first, and nothing when the directory exists', async () => {
  const root = await mkdtemp(join(tmpdir(), 'sluice-dirs-'));
  try {
    const { fs, synced } = recording();
    await mkdirpDurable(fs, join(root, 'a', 'b'));
    assert.deepEqual(synced, [root, join(root, 'a')]);
    synced.length = 0;
    await mkdirpDurable(fs, join(root, 'a', 'b'));
    assert.deepEqual(synced, []);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('a directory created by a call whose fsync failed is made durable by the next call, which finds it existing', async () => {
  const root = await mkdtemp(join(tmpdir(), 'sluice-dirs-'));
  try {
    const { fs, synced, fail } = recording();
    fail(1);
    await assert.rejects(mkdirpDurable(fs, join(root, 'q')), (e: { code?: string }) => e.code === 'EIO');
    assert.deepEqual(synced, []);
    // The retry finds `q` existing; it must still fsync its parent before resolving.
    await mkdirpDurable(fs, join(root, 'q'));
    assert.deepEqual(synced, [root]);
    synced.length = 0;
    await mkdirpDurable(fs, join(root, 'q'));
    assert.deepEqual(synced, [], 'nothing owed any more');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
