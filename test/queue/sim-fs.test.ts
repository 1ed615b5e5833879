import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimClock, SimFileSystem, createRng, isSimCrash, type FileFate } from './sim-fs';

const SEEDS = 300;
const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');

/** Every file (path -> volatile content) reachable in the simulated namespace. */
function snapshot(fs: SimFileSystem, dir = '/'): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of fs.list(dir) ?? []) {
    const p = dir === '/' ? `/${name}` : `${dir}/${name}`;
    const content = fs.peek(p);
    if (content === null) for (const [k, v] of snapshot(fs, p)) out.set(k, v);
    else out.set(p, content.toString('hex'));
  }
  return out;
}

async function rejectsCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: { code?: string }) => err.code === code);
}

test('data that was datasynced survives every power loss', async () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const fs = new SimFileSystem({ seed });
    fs.mkdirDurable('/q');
    const h = await fs.open('/q/a', 'append');
    await fs.syncDir('/q');
    await h.writev([bytes('hello '), bytes('world')]);
    await h.datasync();
    await h.writev([bytes(' and more')]);
    fs.crash();
    const after = fs.reboot();
    const got = after.peek('/q/a');
    assert.ok(got !== null, `seed ${seed}: synced file vanished`);
    assert.ok(got.subarray(0, 11).equals(bytes('hello world')), `seed ${seed}: synced bytes changed: ${got.toString()}`);
  }
});

test('unsynced appends come back whole, missing or torn, never with bytes that were not written', async () => {
  const fates = new Set<FileFate>();
  const written = bytes('0123456789abcdefghijklmnopqrstuvwxyz');
  for (let seed = 1; seed <= SEEDS; seed++) {
    const fs = new SimFileSystem({ seed });
    fs.putDurable('/q/a', bytes('BASE:'));
    const h = await fs.open('/q/a', 'append');
    await h.writev([written.subarray(0, 10)]);
    await h.writev([written.subarray(10)]);
    const report = fs.crash();
    fates.add(report.files.get('/q/a') ?? 'clean');
    const got = fs.reboot().peek('/q/a');
    assert.ok(got !== null, `seed ${seed}: durable file vanished`);
    assert.ok(got.subarray(0, 5).equals(bytes('BASE:')), `seed ${seed}: durable prefix changed`);
    const tail = got.subarray(5);
    assert.ok(tail.length <= written.length, `seed ${seed}: file grew beyond what was written`);
    // Each byte is the byte written there, or a zero from a torn sector; zeros only at the end.
    let firstZero = tail.length;
    for (let i = 0; i < tail.length; i++) {
      if (tail[i] === written[i]) {
        assert.equal(firstZero, tail.length, `seed ${seed}: written byte after a zero-filled one`);
      } else {
        assert.equal(tail[i], 0, `seed ${seed}: byte ${i} was never written: ${tail.toString()}`);
        if (firstZero === tail.length) firstZero = i;
      }
    }
  }
  assert.deepEqual([...fates].sort(), ['dropped', 'kept', 'torn', 'torn-zeroed'], 'every fate should happen over the seeds');
});

test('a file created since the last directory sync may vanish, and survives once the directory is synced', async () => {
  let vanished = 0;
  let kept = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const fs = new SimFileSystem({ seed });
    fs.mkdirDurable('/q');
    const a = await fs.open('/q/unsynced', 'exclusive');
    await a.writev([bytes('x')]);
    await a.datasync();
    const b = await fs.open('/q/synced', 'exclusive');
    await b.writev([bytes('y')]);
    await b.datasync();
    await fs.syncDir('/q');
    const c = await fs.open('/q/later', 'exclusive');
    await c.writev([bytes('z')]);
    await c.datasync();
    fs.crash();
    const after = fs.reboot();
    assert.equal(after.peek('/q/synced')?.toString(), 'y', `seed ${seed}`);
    assert.equal(after.peek('/q/unsynced')?.toString(), 'x', `seed ${seed}: synced with the directory`);
    const later = after.peek('/q/later');
    if (later === null) vanished++;
    else {
      assert.equal(later.toString(), 'z', `seed ${seed}: datasynced content of a surviving entry`);
      kept++;
    }
  }
  assert.ok(vanished > 0 && kept > 0, `both outcomes should happen (vanished ${vanished}, kept ${kept})`);
});

test('a rename survives a crash atomically: exactly one of the names, with the renamed content', async () => {
  const outcomes = new Set<string>();
  for (let seed = 1; seed <= SEEDS; seed++) {
    const fs = new SimFileSystem({ seed });
    fs.putDurable('/q/cursor', bytes('old'));
    const tmp = await fs.open('/q/cursor.tmp', 'truncate');
    await tmp.writev([bytes('new')]);
    await tmp.datasync();
    await tmp.close();
    await fs.rename('/q/cursor.tmp', '/q/cursor');
    const h = await fs.open('/q/fresh.tmp', 'exclusive');
    await h.writev([bytes('f')]);
    await h.datasync();
    await fs.rename('/q/fresh.tmp', '/q/fresh');
    fs.crash();
    const after = fs.reboot();
    const cursor = after.peek('/q/cursor')?.toString();
    assert.ok(cursor === 'old' || cursor === 'new', `seed ${seed}: replaced target is ${cursor}`);
    const tmpLeft = after.peek('/q/cursor.tmp')?.toString();
    if (cursor === 'old') assert.ok(tmpLeft === undefined || tmpLeft === 'new', `seed ${seed}`);
    else assert.equal(tmpLeft, undefined, `seed ${seed}: both names after the rename took effect`);
    const fresh = after.peek('/q/fresh')?.toString();
    const freshTmp = after.peek('/q/fresh.tmp')?.toString();
    // Never synced: the file may be gone entirely, but never under both names.
    assert.ok(!(fresh !== undefined && freshTmp !== undefined), `seed ${seed}: both names exist`);
    for (const v of [fresh, freshTmp]) assert.ok(v === undefined || v === 'f', `seed ${seed}: content ${v}`);
    outcomes.add(`${cursor}/${fresh === undefined ? '-' : 'fresh'}/${freshTmp === undefined ? '-' : 'tmp'}`);
  }
  assert.ok(outcomes.has('old/-/-') && outcomes.has('new/fresh/-'), [...outcomes].join(' '));
  assert.ok(outcomes.has('new/-/tmp') || outcomes.has('new/-/-'), [...outcomes].join(' '));
});

test('an unlink that was not followed by a directory sync may be undone by a crash', async () => {
  let back = 0;
  for (let seed = 1; seed <= 100; seed++) {
    const fs = new SimFileSystem({ seed });
    fs.putDurable('/q/seg-1', bytes('records'));
    await fs.unlink('/q/seg-1');
    assert.equal(await fs.stat('/q/seg-1'), null);
    fs.crash();
    const got = fs.reboot().peek('/q/seg-1');
    if (got !== null) {
      assert.equal(got.toString(), 'records');
      back++;
    }
  }
  assert.ok(back > 0 && back < 100, `came back ${back} times of 100`);
  const fs = new SimFileSystem({ seed: 1 });
  fs.putDurable('/q/seg-1', bytes('records'));
  await fs.unlink('/q/seg-1');
  await fs.syncDir('/q');
  fs.crash();
  assert.equal(fs.reboot().peek('/q/seg-1'), null, 'a synced unlink is permanent');
});

test('a truncate that was not datasynced may be undone, and a synced one is kept', async () => {
  const seen = new Set<string>();
  for (let seed = 1; seed <= 100; seed++) {
    const fs = new SimFileSystem({ seed });
    fs.putDurable('/q/seg', bytes('good|torn'));
    const h = await fs.open('/q/seg', 'append');
    await h.truncate(5);
    assert.equal((await h.stat()).size, 5);
    await h.writev([bytes('next')]);
    fs.crash();
    const got = fs.reboot().peek('/q/seg')?.toString() ?? 'missing';
    assert.ok(['good|torn', 'good|next', 'good|', 'good|n', 'good|ne', 'good|nex'].includes(got.replace(/\0+$/, '')), `seed ${seed}: ${JSON.stringify(got)}`);
    seen.add(got);
  }
  assert.ok(seen.has('good|torn') && seen.has('good|next'), [...seen].join(' '));
  const fs = new SimFileSystem({ seed: 7 });
  fs.putDurable('/q/seg', bytes('good|torn'));
  const h = await fs.open('/q/seg', 'append');
  await h.truncate(5);
  await h.datasync();
  fs.crash();
  assert.equal(fs.reboot().peek('/q/seg')?.toString(), 'good|');
});

test('after a crash every handle and the old boot reject, and the old pid is no longer alive', async () => {
  const fs = new SimFileSystem({ seed: 3 });
  fs.mkdirDurable('/q');
  const h = await fs.open('/q/lock', 'exclusive');
  assert.ok(fs.processAlive(fs.pid));
  fs.crash();
  await assert.rejects(h.writev([bytes('x')]), (err: unknown) => isSimCrash(err));
  await assert.rejects(h.read(Buffer.alloc(1), 0, 1, 0), (err: unknown) => isSimCrash(err));
  await assert.rejects(fs.readdir('/q'), (err: unknown) => isSimCrash(err));
  const next = fs.reboot();
  assert.notEqual(next.pid, fs.pid);
  assert.equal(next.processAlive(fs.pid), false);
  assert.equal(next.processAlive(next.pid), true);
  assert.deepEqual(await next.readdir('/q').then((n) => n.length <= 1), true);
});

test('crashAt crashes in the middle of that step and a writev lands only a prefix of its bytes', async () => {
  const lengths = new Set<number>();
  for (let seed = 1; seed <= 100; seed++) {
    const fs = new SimFileSystem({ seed });
    fs.putDurable('/q/seg', bytes(''));
    const h = await fs.open('/q/seg', 'append'); // step 1
    fs.crashAt(3);
    await h.writev([bytes('aaaa')]); // step 2
    let crashedIn = '';
    await h.writev([bytes('bbbbbbbb')]).catch((err: unknown) => {
      if (isSimCrash(err)) crashedIn = 'writev';
    });
    assert.equal(crashedIn, 'writev', `seed ${seed}: step 3 should crash`);
    assert.ok(fs.crashed);
    assert.equal(fs.lastCrash?.atStep, 3);
    const got = fs.reboot().peek('/q/seg')?.toString() ?? '';
    assert.match(got.replace(/\0+$/, ''), /^(a{0,4}|aaaab{0,8})$/, `seed ${seed}: ${JSON.stringify(got)}`);
    lengths.add(got.length);
  }
  assert.ok(lengths.size > 5, `crash outcomes should vary: ${[...lengths].join(',')}`);
});

test('a process crash keeps everything written visible, but what was not synced can still be lost to power', async () => {
  const fs = new SimFileSystem({ seed: 11 });
  fs.mkdirDurable('/q');
  const h = await fs.open('/q/seg', 'append');
  await h.writev([bytes('unsynced')]);
  await fs.rename('/q/seg', '/q/seg-1');
  fs.crash({ kind: 'process' });
  const after = fs.reboot();
  assert.deepEqual(after.list('/q'), ['seg-1']);
  assert.equal(after.peek('/q/seg-1')?.toString(), 'unsynced');
  assert.equal(after.peekDurable('/q/seg-1')?.toString(), '', 'a kill does not make anything durable');
  let lost = 0;
  for (let seed = 1; seed <= 50; seed++) {
    const one = new SimFileSystem({ seed });
    one.mkdirDurable('/q');
    const w = await one.open('/q/seg', 'append');
    await w.writev([bytes('unsynced')]);
    one.crash({ kind: 'process' });
    const next = one.reboot();
    next.crash();
    if ((next.reboot().peek('/q/seg')?.toString() ?? '') !== 'unsynced') lost++;
  }
  assert.ok(lost > 0, 'a power loss after a kill never lost the unsynced write');
});

test('the same seed replays the same interleaving and the same crash outcome', async () => {
  async function run(seed: number): Promise<string> {
    const clock = new SimClock();
    const fs = new SimFileSystem({ seed, clock });
    fs.trace = [];
    fs.mkdirDurable('/q');
    const order: string[] = [];
    const work = async (name: string): Promise<void> => {
      const h = await fs.open(`/q/${name}`, 'append');
      for (let i = 0; i < 5; i++) {
        await h.writev([bytes(`${name}${i};`)]);
        order.push(`${name}${i}`);
        if (i === 2) await h.datasync();
      }
    };
    const done = Promise.all([work('a'), work('b'), work('c'), fs.syncDir('/q')]);
    const outcome = await clock.runUntil(done);
    assert.equal(outcome.status, 'resolved');
    fs.crash();
    const after = fs.reboot();
    return JSON.stringify({ order, trace: fs.trace, files: [...snapshot(after)] });
  }
  const results = new Set<string>();
  for (let seed = 100; seed < 110; seed++) {
    const first = await run(seed);
    assert.equal(await run(seed), first, `seed ${seed} did not replay`);
    results.add(first);
  }
  assert.ok(results.size > 5, 'different seeds should give different runs');
});

test('injected faults fail operations with EIO or ENOSPC and may leave a short write', async () => {
  const fs = new SimFileSystem({ seed: 5, faults: { eio: 1 } });
  await rejectsCode(fs.readdir('/'), 'EIO');
  await rejectsCode(fs.mkdirp('/q'), 'EIO');
  const full = new SimFileSystem({ seed: 5, faults: { enospc: 1 } });
  full.mkdirDurable('/q');
  await rejectsCode(full.open('/q/new', 'append'), 'ENOSPC');
  full.putDurable('/q/seg', bytes(''));
  const h = await full.open('/q/seg', 'append');
  const partial = new Set<number>();
  for (let i = 0; i < 20; i++) {
    const before = full.peek('/q/seg')?.length ?? 0;
    await rejectsCode(h.writev([bytes('0123456789')]), 'ENOSPC');
    partial.add((full.peek('/q/seg')?.length ?? 0) - before);
  }
  assert.ok([...partial].every((n) => n >= 0 && n <= 10));
  assert.ok(partial.size > 1, 'short writes should vary');
  // With a small probability most operations succeed.
  const flaky = new SimFileSystem({ seed: 9, faults: { eio: 0.1 } });
  let failures = 0;
  for (let i = 0; i < 200; i++) await flaky.stat('/').catch(() => failures++);
  assert.ok(failures > 5 && failures < 50, `${failures} failures of 200`);
});

test('open modes and errors follow POSIX: ENOENT, EEXIST, truncation, EBADF after close', async () => {
  const fs = new SimFileSystem({ seed: 1 });
  await rejectsCode(fs.readdir('/nope'), 'ENOENT');
  await rejectsCode(fs.open('/nope/file', 'append'), 'ENOENT');
  await fs.mkdirp('/a/b/c');
  assert.deepEqual(await fs.readdir('/a/b'), ['c']);
  await rejectsCode(fs.open('/a/missing', 'read'), 'ENOENT');
  const h = await fs.open('/a/f', 'exclusive');
  await h.writev([bytes('abc'), new Uint8Array([100, 101])]);
  await rejectsCode(fs.open('/a/f', 'exclusive'), 'EEXIST');
  const r = await fs.open('/a/f', 'read');
  const buf = Buffer.alloc(10);
  assert.equal(await r.read(buf, 0, 10, 1), 4);
  assert.equal(buf.subarray(0, 4).toString(), 'bcde');
  assert.equal(await r.read(buf, 0, 10, 5), 0);
  await rejectsCode(r.writev([bytes('x')]), 'EBADF');
  assert.equal((await fs.stat('/a/f'))?.size, 5);
  assert.equal(await fs.stat('/a/g'), null);
  const t = await fs.open('/a/f', 'truncate');
  assert.equal((await t.stat()).size, 0);
  await t.close();
  await rejectsCode(t.writev([bytes('x')]), 'EBADF');
  await rejectsCode(fs.unlink('/a/g'), 'ENOENT');
  await rejectsCode(fs.rename('/a/g', '/a/h'), 'ENOENT');
});

test('the virtual clock fires timers in order, reports deadlocks and timeouts, and stops when halted', async () => {
  const clock = new SimClock(1000);
  const fired: number[] = [];
  clock.setTimer(30, () => fired.push(30));
  clock.setTimer(10, () => fired.push(10));
  const cancelled = clock.setTimer(20, () => fired.push(20));
  cancelled.cancel();
  const late = clock.sleep(50).then(() => clock.now());
  const out = await clock.runUntil(late);
  assert.deepEqual(out, { status: 'resolved', value: 1050 });
  assert.deepEqual(fired, [10, 30]);

  const never = new Promise<void>(() => undefined);
  assert.deepEqual(await clock.runUntil(never), { status: 'deadlock' });

  const tick = (): void => {
    clock.setTimer(100, tick);
  };
  tick();
  assert.deepEqual(await clock.runUntil(never, { maxMs: 10_000 }), { status: 'timeout' });
  let stopped = false;
  clock.setTimer(50, () => (stopped = true));
  assert.deepEqual(await clock.runUntil(never, { stop: () => stopped }), { status: 'stopped' });

  clock.halt();
  clock.setTimer(1, () => fired.push(1));
  assert.equal(clock.pending, 0);
  assert.deepEqual(await clock.runUntil(never), { status: 'deadlock' });
});

test('the seeded generator is repeatable and roughly uniform', () => {
  const a = createRng(42);
  const b = createRng(42);
  const xs = Array.from({ length: 1000 }, () => a.int(10));
  assert.deepEqual(xs, Array.from({ length: 1000 }, () => b.int(10)));
  for (let v = 0; v < 10; v++) {
    const n = xs.filter((x) => x === v).length;
    assert.ok(n > 60 && n < 140, `value ${v} came ${n} times of 1000`);
  }
});

test('readdir lists the entries in a seeded order that differs from creation order across seeds', async () => {
  const orders = new Set<string>();
  for (let seed = 1; seed <= 20; seed++) {
    const fs = new SimFileSystem({ seed });
    for (const n of ['a', 'b', 'c', 'd', 'e']) fs.putDurable(`/q/${n}`, bytes(n));
    const names = await fs.readdir('/q');
    assert.deepEqual([...names].sort(), ['a', 'b', 'c', 'd', 'e']);
    orders.add(names.join(''));
    const again = new SimFileSystem({ seed });
    for (const n of ['a', 'b', 'c', 'd', 'e']) again.putDurable(`/q/${n}`, bytes(n));
    assert.deepEqual(await again.readdir('/q'), names, `seed ${seed} did not replay`);
  }
  assert.ok(orders.size > 5, `only ${orders.size} distinct orders`);
});

test('a fault rule fails exactly the steps it names, and a failed writev may leave a prefix', async () => {
  let armed = true;
  const fs = new SimFileSystem({
    seed: 8,
    faults: { rule: (syscall, path) => (armed && syscall === 'writev' && path.endsWith('/seg') ? 'EIO' : null) },
  });
  fs.putDurable('/q/seg', bytes(''));
  fs.putDurable('/q/other', bytes(''));
  const seg = await fs.open('/q/seg', 'append');
  const other = await fs.open('/q/other', 'append');
  await other.writev([bytes('fine')]);
  await rejectsCode(seg.writev([bytes('0123456789')]), 'EIO');
  const left = fs.sizeOf('/q/seg') ?? -1;
  assert.ok(left >= 0 && left <= 10, `a failed write left ${left} bytes`);
  assert.equal(fs.peek('/q/seg')?.toString(), '0123456789'.slice(0, left));
  armed = false;
  await seg.writev([bytes('ok')]);
  assert.equal(fs.peek('/q/other')?.toString(), 'fine');
  assert.ok(fs.peek('/q/seg')?.toString().endsWith('ok'));
});

test('corrupt() flips a byte in the volatile and the durable content', async () => {
  const fs = new SimFileSystem({ seed: 4 });
  fs.putDurable('/q/seg', bytes('abcdef'));
  fs.corrupt('/q/seg', 2, 0x20);
  assert.equal(fs.peek('/q/seg')?.toString(), 'abCdef');
  fs.crash();
  assert.equal(fs.reboot().peek('/q/seg')?.toString(), 'abCdef');
});

test('a hole asked for at a power loss zeroes exactly that unsynced range and keeps the bytes after it', async () => {
  const fs = new SimFileSystem({ seed: 5 });
  fs.putDurable('/q/seg', bytes('abcd'));
  const h = await fs.open('/q/seg', 'append');
  await h.writev([bytes('efghijkl')]);
  assert.throws(() => fs.crash({ holes: new Map([['/q/seg', [2, 6]]]) }), /not inside its unsynced bytes/);
  const report = fs.crash({ holes: new Map([['/q/seg', [6, 9]]]) });
  assert.equal(report.files.get('/q/seg'), 'holed');
  assert.equal(fs.reboot().peek('/q/seg')?.toString('latin1'), 'abcdef\0\0\0jkl');
});

test('processes on one machine see each other alive; a kill ends one, a power loss ends them all', async () => {
  const a = new SimFileSystem({ seed: 12 });
  const b = a.spawn();
  const c = a.spawn();
  assert.equal(new Set([a.pid, b.pid, c.pid]).size, 3);
  assert.ok(a.processAlive(b.pid) && b.processAlive(a.pid) && c.processAlive(c.pid));
  b.crash({ kind: 'process' });
  assert.equal(a.processAlive(b.pid), false);
  assert.ok(a.processAlive(c.pid));
  await assert.rejects(b.readdir('/'), (err: unknown) => isSimCrash(err));
  await a.readdir('/');
  a.crash();
  assert.ok(c.crashed, 'a power loss ends every process');
  await assert.rejects(c.readdir('/'), (err: unknown) => isSimCrash(err));
  const next = a.reboot();
  assert.equal(next.processAlive(a.pid) || next.processAlive(c.pid), false);
});

test('a disk with a capacity: a write past it lands the blocks that fit and fails with ENOSPC; an unlinked file frees its blocks once closed', async () => {
  const fs = new SimFileSystem({ seed: 1, capacity: 4 * 512, blockSize: 512 });
  const a = await fs.open('/a', 'append');
  await a.writev([Buffer.alloc(1000, 1)]); // two blocks
  const b = await fs.open('/b', 'append');
  await assert.rejects(b.writev([Buffer.alloc(1500, 2)]), (e: { code?: string }) => e.code === 'ENOSPC');
  assert.equal(fs.sizeOf('/b'), 1024, 'a short write of the two blocks left');
  assert.equal(fs.disk.free(), 0);
  await b.truncate(0);
  assert.equal(fs.disk.free(), 1024);
  await fs.unlink('/a');
  assert.equal(fs.disk.free(), 1024, 'an open file keeps its blocks after the unlink');
  await a.close();
  assert.equal(fs.disk.free(), 2048);
  await b.writev([Buffer.alloc(1500, 3)]);
  // Overwriting bytes the file has needs no space, extending it does.
  fs.disk.capacity = fs.disk.used();
  await b.close();
  const u = await fs.open('/b', 'update');
  await u.writeAt(Buffer.alloc(1000, 4), 0);
  await u.writeAt(Buffer.alloc(36, 5), 1500); // inside the last block (1500..1536)
  await assert.rejects(u.writeAt(Buffer.alloc(10, 6), 1536), (e: { code?: string }) => e.code === 'ENOSPC');
});

test('an overwrite in place that was not synced comes back old, new, or new up to a point and old after it', async () => {
  const seen = new Set<string>();
  for (let seed = 1; seed <= 200; seed++) {
    const fs = new SimFileSystem({ seed });
    fs.putDurable('/f', bytes('aaaaaaaa'));
    const h = await fs.open('/f', 'update');
    await h.writeAt(bytes('bbbb'), 2);
    assert.equal(fs.peek('/f')?.toString(), 'aabbbbaa');
    fs.crash();
    const got = fs.reboot().peek('/f')?.toString() ?? 'missing';
    assert.ok(['aaaaaaaa', 'aabaaaaa', 'aabbaaaa', 'aabbbaaa', 'aabbbbaa'].includes(got), `seed ${seed}: ${got}`);
    seen.add(got);
  }
  assert.ok(seen.has('aaaaaaaa') && seen.has('aabbbbaa') && seen.size >= 4, [...seen].join(' '));
  // An append handle cannot write in place (Linux would append: the queue must not rely on that).
  const fs = new SimFileSystem({ seed: 1 });
  const h = await fs.open('/g', 'append');
  await assert.rejects(h.writeAt(bytes('x'), 0), (e: { code?: string }) => e.code === 'EINVAL');
});

test("writeback 'any-order': each 512-byte sector of an overwritten file comes back old, new or torn, independently of the others", async () => {
  const kinds = new Set<string>();
  for (let seed = 1; seed <= SEEDS; seed++) {
    const fs = new SimFileSystem({ seed, writeback: 'any-order' });
    fs.mkdirDurable('/q');
    fs.putDurable('/q/c', Buffer.alloc(1024, 0x61)); // two sectors of 'a'
    const h = await fs.open('/q/c', 'update');
    await h.writeAt(Buffer.alloc(512, 0x62), 512); // the second sector first, then the first
    await h.writeAt(Buffer.alloc(512, 0x62), 0);
    fs.crash();
    const got = fs.reboot().peek('/q/c');
    assert.ok(got !== null && got.length === 1024, `seed ${seed}: size ${got?.length}`);
    const sector = (s: Buffer): string => {
      const cut = s.indexOf(0x61);
      if (cut === -1) return 'new';
      if (cut === 0) return s.every((x) => x === 0x61) ? 'old' : 'garbage';
      return s.subarray(cut).every((x) => x === 0x61) ? 'torn' : 'garbage';
    };
    const a = sector(got.subarray(0, 512));
    const b = sector(got.subarray(512));
    assert.ok(a !== 'garbage' && b !== 'garbage', `seed ${seed}: bytes never written in that order appeared`);
    kinds.add(`${a}/${b}`);
  }
  assert.ok(kinds.has('new/old'), 'the later write reached the disk while the earlier one did not (out of order)');
  assert.ok(kinds.has('old/new') && kinds.has('torn/old'), [...kinds].join(' '));
});

test('out-of-order writeback: each unsynced page comes back new or old (zeros where the file grew), later pages may land while earlier ones do not', async () => {
  const PAGE = 512;
  const old = Buffer.alloc(3 * PAGE, 0x61); // synced: 3 pages of 'a'
  let laterWithoutEarlier = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const fs = new SimFileSystem({ seed, outOfOrder: 1, pageBytes: PAGE });
    fs.putDurable('/q/f', old);
    const h = await fs.open('/q/f', 'update');
    await h.writeAt(Buffer.alloc(PAGE, 0x62), PAGE); // page 1 overwritten with 'b'
    await h.writeAt(Buffer.alloc(3 * PAGE, 0x63), 3 * PAGE); // pages 3..5 appended, 'c'
    const now = fs.peek('/q/f') as Buffer;
    const report = fs.crash();
    assert.equal(report.files.get('/q/f'), 'scattered', `seed ${seed}`);
    const got = fs.reboot().peek('/q/f') as Buffer;
    assert.ok(got.length >= old.length && got.length <= now.length, `seed ${seed}: size ${got.length}`);
    const fates: string[] = [];
    for (let at = 0; at < got.length; at += PAGE) {
      const page = got.subarray(at, Math.min(got.length, at + PAGE));
      const isNew = page.equals(now.subarray(at, at + page.length));
      const oldPage = at < old.length ? old.subarray(at, at + page.length) : Buffer.alloc(page.length);
      const isOld = page.equals(oldPage);
      assert.ok(isNew || isOld, `seed ${seed}: page ${at / PAGE} is neither its new nor its old content`);
      fates.push(isNew && !isOld ? 'new' : isOld && !isNew ? 'old' : 'same');
    }
    const firstOld = fates.indexOf('old');
    if (firstOld >= 0 && fates.lastIndexOf('new') > firstOld) laterWithoutEarlier++;
  }
  assert.ok(laterWithoutEarlier > SEEDS / 10, `a later page landed before an earlier one in only ${laterWithoutEarlier} of ${SEEDS} seeds`);
});

test('without out-of-order writeback a power loss draws nothing more: the seeds of older runs replay unchanged', async () => {
  const run = async (outOfOrder: number | undefined): Promise<string> => {
    const fs = new SimFileSystem({ seed: 7, ...(outOfOrder !== undefined ? { outOfOrder } : {}) });
    fs.putDurable('/q/f', bytes('synced '));
    const h = await fs.open('/q/f', 'append');
    await h.writev([bytes('not synced, a longer tail to tear')]);
    fs.crash();
    return (fs.reboot().peek('/q/f') as Buffer).toString('hex');
  };
  assert.equal(await run(0), await run(undefined));
});

test('the read view: inode identity follows a rename, mtime changes with the content, directories list typed entries', async () => {
  const fs = new SimFileSystem({ seed: 3 });
  fs.mkdirDurable('/logs');
  fs.appendDurable('/logs/app.log', bytes('one\n'));
  const view = fs.readView();
  const before = await view.stat('/logs/app.log');
  assert.equal(before.type, 'file');
  assert.equal(before.size, 4);
  const fh = await view.openRead('/logs/app.log');
  fs.renameDurable('/logs/app.log', '/logs/app.log.1');
  fs.appendDurable('/logs/app.log', bytes('two\n'));
  const held = await fh.stat();
  const moved = await view.stat('/logs/app.log.1');
  const fresh = await view.stat('/logs/app.log');
  assert.deepEqual([held.dev, held.ino], [moved.dev, moved.ino]);
  assert.notEqual(fresh.ino, moved.ino);
  fs.appendDurable('/logs/app.log.1', bytes('late\n'));
  const grown = await fh.stat();
  assert.ok(grown.mtimeMs > held.mtimeMs && grown.size === 9);
  // The queue's FileSystem stat names the same inode.
  assert.equal((await fs.stat('/logs/app.log.1'))?.ino, moved.ino);
  fs.mkdirDurable('/logs/old');
  const entries = (await view.readdirTyped('/logs')).map((e) => `${e.name}:${e.type}`).sort();
  assert.deepEqual(entries, ['app.log.1:file', 'app.log:file', 'old:directory']);
  await rejectsCode(view.stat('/logs/missing'), 'ENOENT');
  await rejectsCode(view.openRead('/logs/missing'), 'ENOENT');
});
