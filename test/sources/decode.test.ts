import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Assembler, newDecodeCounts } from '../../src/sources/decode';
import type { DecodeConfig, DecodeCounts, Flush } from '../../src/sources/decode';
import { fileSourceSchema } from '../../src/sources/file/config';
import { GO, JAVA, PYTHON, interleave, plain, trace } from './decode-traces';

type Event = Record<string, unknown> & { message: string };

const config = (keys: Record<string, unknown>): DecodeConfig => fileSourceSchema.parse({ type: 'file', include: ['/x/*.log'], ...keys });

/**
 * Feeds `text` to one assembler in the given chunks, the way a source does (the carry it hands back
 * goes in front of the next chunk), then flushes at the end; returns the events.
 */
function run(cfg: DecodeConfig, text: string | Buffer, cuts: number[] = [], counts: DecodeCounts = newDecodeCounts(), maxLine = 1024 * 1024): Event[] {
  const a = new Assembler(cfg, maxLine, counts);
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const out: Event[] = [];
  let carry = Buffer.alloc(0);
  let at = 0;
  const take = (input: Buffer, flush: Flush): void => {
    const d = a.decode(input, carry.length, flush, '/x/app.log');
    carry = Buffer.from(input.subarray(d.consumed));
    const lines = d.lines.toString('utf8');
    const objs = lines === '' ? [] : lines.trimEnd().split('\n');
    assert.equal(objs.length, d.events, 'events counts the NDJSON lines');
    for (const o of objs) out.push(JSON.parse(o) as Event);
  };
  for (const c of [...cuts.filter((x) => x > 0 && x < bytes.length).sort((x, y) => x - y), bytes.length]) {
    if (c <= at) continue;
    take(Buffer.concat([carry, bytes.subarray(at, c)]), false);
    at = c;
  }
  take(carry, 'all');
  return out;
}

const messages = (evs: Event[]): string[] => evs.map((e) => e.message);

test('java mode: real JVM traces interleaved with ordinary lines become one event per trace, byte-exact', () => {
  const { events, text } = interleave(JAVA, 30);
  const got = run(config({ multiline: { mode: 'java' } }), text);
  assert.deepEqual(messages(got), events);
  assert.equal(got[0]?.['file'], '/x/app.log');
});

test('python mode: real tracebacks (chained, "during handling", exception groups) become one event each', () => {
  const { events, text } = interleave(PYTHON, 40);
  assert.deepEqual(messages(run(config({ multiline: { mode: 'python' } }), text)), events);
});

test('go mode: real panics, nil dereferences, all-goroutine dumps and deadlocks become one event each', () => {
  const { events, text } = interleave(GO, 40);
  assert.deepEqual(messages(run(config({ multiline: { mode: 'go' } }), text)), events);
});

test('start_pattern and continue_pattern group lines by a regular expression', () => {
  const text = '2026-01-01 a\n b\n c\n2026-01-02 d\n2026-01-03 e\n f\n';
  assert.deepEqual(messages(run(config({ multiline: { mode: 'start_pattern', start_pattern: '^\\d{4}-' } }), text)), ['2026-01-01 a\n b\n c', '2026-01-02 d', '2026-01-03 e\n f']);
  assert.deepEqual(messages(run(config({ multiline: { mode: 'continue_pattern', continue_pattern: '^\\s' } }), 'a\n b\n\tc\nd\n')), ['a\n b\n\tc', 'd']);
});

test('max_lines cuts an event, flags the cut and the rest, and counts it; nothing is dropped', () => {
  const counts = newDecodeCounts();
  const lines = ['start', ...Array.from({ length: 9 }, (_, i) => `\tat f${i}`)];
  const got = run(config({ multiline: { mode: 'java', max_lines: 4 } }), lines.map((l) => `${l}\n`).join(''), [], counts);
  assert.deepEqual(messages(got), [lines.slice(0, 4).join('\n'), lines.slice(4, 8).join('\n'), lines.slice(8).join('\n')]);
  assert.deepEqual(
    got.map((e) => [e['cut'], e['continuation']]),
    [
      ['max_lines', undefined],
      ['max_lines', true],
      [undefined, true],
    ],
  );
  assert.equal(counts.cutMaxLines, 2);
  assert.equal(counts.continuations, 2);
});

test('max_bytes cuts before an event grows past the bound', () => {
  const counts = newDecodeCounts();
  const line = `\tat ${'x'.repeat(300)}`;
  const text = `head\n${Array.from({ length: 10 }, () => `${line}\n`).join('')}`;
  const got = run(config({ multiline: { mode: 'java', max_bytes: 1024 } }), text, [], counts);
  assert.equal(messages(got).join('\n'), text.trimEnd());
  for (const e of got) assert.ok(Buffer.byteLength(e.message) + 1 <= 1024);
  assert.ok(counts.cutMaxBytes >= 2);
  assert.equal(got[0]?.['cut'], 'max_bytes');
});

test('a timeout flush emits the pending event; lines that continue it later are an event flagged continuation', () => {
  const counts = newDecodeCounts();
  const a = new Assembler(config({ multiline: { mode: 'java' } }), 1 << 20, counts);
  const first = Buffer.from('Exception in thread "main" x.Y: z\n\tat a.b(C.java:1)\n');
  let d = a.decode(first, 0, false, 'f');
  assert.equal(d.events, 0);
  assert.equal(d.consumed, 0, 'the position stays before the pending event');
  assert.equal(a.holding, true);
  d = a.decode(first, first.length, 'events', 'f');
  assert.equal(d.events, 1);
  assert.equal(d.consumed, first.length);
  const rest = Buffer.from('\tat d.e(F.java:2)\nnext line\n');
  d = a.decode(rest, 0, 'all', 'f');
  const evs = d.lines.toString().trimEnd().split('\n').map((l) => JSON.parse(l) as Event);
  assert.deepEqual(messages(evs), ['\tat d.e(F.java:2)', 'next line']);
  assert.equal(evs[0]?.['continuation'], true);
  assert.equal(counts.timeoutFlushes, 1);
});

test('json decoding: objects become fields; other lines are kept as message and counted', () => {
  const counts = newDecodeCounts();
  const got = run(config({ decoding: 'json' }), '{"level":"info","msg":"up","n":1}\nnot json\n[1,2]\n{}\n{"file":"mine"}\n', [], counts);
  assert.deepEqual(got, [
    { level: 'info', msg: 'up', n: 1, file: '/x/app.log' },
    { message: 'not json', file: '/x/app.log' },
    { message: '[1,2]', file: '/x/app.log' },
    { file: '/x/app.log' },
    { file: 'mine' },
  ]);
  assert.equal(counts.invalidJson, 2);
});

test('cri decoding joins P pieces up to the F piece, with the stream and the runtime timestamp; parse_json parses the message', () => {
  const counts = newDecodeCounts();
  const text =
    '2026-11-30T03:00:00.000000001Z stdout P {"msg":"a long \n' +
    '2026-11-30T03:00:00.000000002Z stderr F warning on stderr\n' +
    '2026-11-30T03:00:00.000000003Z stdout P line cut by\n' +
    '2026-11-30T03:00:00.000000004Z stdout F  the runtime"}\n' +
    'garbage\n';
  const got = run(config({ decoding: 'cri' }), text, [], counts);
  assert.deepEqual(got, [
    { message: '{"msg":"a long line cut by the runtime"}', stream: 'stdout', timestamp: '2026-11-30T03:00:00.000000001Z', file: '/x/app.log' },
    { message: 'warning on stderr', stream: 'stderr', timestamp: '2026-11-30T03:00:00.000000002Z', file: '/x/app.log' },
    { message: 'garbage', file: '/x/app.log' },
  ]);
  assert.equal(counts.invalidCri, 1);
  assert.equal(counts.criPieces, 2);
  const parsed = run(config({ decoding: 'cri', parse_json: true }), text);
  assert.deepEqual(parsed[0], { msg: 'a long line cut by the runtime', stream: 'stdout', timestamp: '2026-11-30T03:00:00.000000001Z', file: '/x/app.log' });
});

test('cri + multiline: the joined messages are grouped', () => {
  const t = trace('java-uncaught.txt').split('\n');
  const text = [plain(1), ...t, plain(2)].map((l, i) => `2026-11-30T03:00:00.${String(i).padStart(9, '0')}Z stderr F ${l}\n`).join('');
  assert.deepEqual(messages(run(config({ decoding: 'cri', multiline: { mode: 'java' } }), text)), [plain(1), t.join('\n'), plain(2)]);
});

test('config: bad keys are one-line errors naming the key', () => {
  const bad = (keys: Record<string, unknown>): string => {
    const r = fileSourceSchema.safeParse({ type: 'file', include: ['/x'], ...keys });
    assert.equal(r.success, false);
    return r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') ?? '';
  };
  assert.match(bad({ multiline: { mode: 'start_pattern' } }), /multiline\.start_pattern: mode: start_pattern needs start_pattern/);
  assert.match(bad({ multiline: { mode: 'java', start_pattern: 'x' } }), /start_pattern applies to mode: start_pattern only/);
  assert.match(bad({ multiline: { mode: 'start_pattern', start_pattern: '(' } }), /not a valid regular expression/);
  assert.match(bad({ multiline: { mode: 'java', timeout: 'soon' } }), /multiline\.timeout/);
  assert.match(bad({ multiline: { mode: 'java', colour: 1 } }), /colour/);
  assert.match(bad({ parse_json: true }), /parse_json applies to decoding: cri only/);
  assert.match(bad({ decoding: 'xml' }), /decoding/);
});

const modes: Record<string, readonly string[]> = { java: JAVA, python: PYTHON, go: GO };

test('property: any split of the input across reads gives the same events as one read (every mode, CRI too)', () => {
  fc.assert(
    fc.property(
      fc.constantFrom('java', 'python', 'go'),
      fc.boolean(),
      fc.array(fc.nat(), { maxLength: 30 }),
      fc.integer({ min: 2, max: 8 }),
      (mode, cri, cutSeeds, maxLines) => {
        const { text } = interleave(modes[mode] as readonly string[], 12, 2);
        const input = cri
          ? text
              .split(/(?<=\n)/)
              .map((l, i) => (l.length > 20 && i % 2 === 0 ? `2026-11-30T03:00:00Z stdout P ${l.slice(0, 10)}\n2026-11-30T03:00:00Z stdout F ${l.slice(10)}` : `2026-11-30T03:00:00Z stdout F ${l}`))
              .join('')
          : text;
        const cfg = config({ multiline: { mode, max_lines: maxLines * 10 }, ...(cri ? { decoding: 'cri' } : {}) });
        const bytes = Buffer.from(input);
        const cuts = cutSeeds.map((s) => s % bytes.length);
        assert.deepEqual(run(cfg, bytes, cuts), run(cfg, bytes));
      },
    ),
    { numRuns: 200 },
  );
});

test('property: every input byte is in exactly one event, in order (lines of any kind, any max_lines, any splits)', () => {
  const line = fc.oneof(fc.constantFrom('', '\tat x', 'Caused by: y', '  File "a"', 'Traceback (most recent call last):', 'E: z', 'panic: p', 'goroutine 1 [running]:', 'main.main()'), fc.string({ maxLength: 12 }).map((s) => s.replace(/\n/g, '')));
  fc.assert(
    fc.property(fc.constantFrom('java', 'python', 'go'), fc.array(line, { maxLength: 60 }), fc.array(fc.nat(), { maxLength: 10 }), fc.integer({ min: 2, max: 6 }), (mode, lines, cutSeeds, maxLines) => {
      const text = lines.map((l) => `${l}\n`).join('');
      if (text.length === 0) return;
      const got = run(config({ multiline: { mode, max_lines: maxLines } }), text, cutSeeds.map((s) => s % text.length));
      assert.equal(got.map((e) => `${e.message}\n`).join(''), text);
      for (const e of got) assert.ok(e.message.split('\n').length <= maxLines);
    }),
    { numRuns: 300 },
  );
});

test('a line longer than max_line_bytes is cut on UTF-8 character boundaries into pieces, each an event, nothing lost', () => {
  const line = 'é'.repeat(50); // 100 bytes, 2 per character
  const got = run(config({ decoding: 'json' }), `${line}\n`, [7, 33], newDecodeCounts(), 17);
  assert.equal(messages(got).join(''), line);
  for (const e of got) assert.ok(!e.message.includes('\uFFFD') && Buffer.byteLength(e.message) <= 17, e.message);
});

/**
 * A crash after any read: the events emitted up to it, then what a fresh assembler (a restarted
 * agent) makes of the input from the position it left (`consumed`), are exactly the events of one
 * uninterrupted run — none lost, none twice, none split. CRI with stdout `P` sequences and stderr
 * lines interleaved included.
 */
test('property: a restart from the position after any read gives exactly the events of an uninterrupted run', () => {
  const criLine = fc.record({
    stream: fc.constantFrom('stdout', 'stderr'),
    pieces: fc.array(fc.constantFrom('Exception in thread "main" x.Y: z', '\tat a.b(C.java:1)', 'Caused by: q', '2026 INFO ok', 'E'), { minLength: 1, maxLength: 3 }),
  });
  fc.assert(
    fc.property(fc.array(criLine, { minLength: 1, maxLength: 25 }), fc.nat(), fc.boolean(), (lines, cutSeed, interleaveStreams) => {
      // Each logical line as P pieces then its F piece; with interleaving, a stderr line may sit inside a stdout sequence.
      const out: string[] = [];
      let i = 0;
      for (const l of lines) {
        const ts = `2026-11-30T03:00:00.${String(i++).padStart(9, '0')}Z`;
        l.pieces.forEach((p, k) => {
          out.push(`${ts} ${l.stream} ${k === l.pieces.length - 1 ? 'F' : 'P'} ${p}\n`);
          if (interleaveStreams && k === 0 && l.pieces.length > 1 && l.stream === 'stdout') out.push(`${ts} stderr F 2026 WARN between\n`);
        });
      }
      const bytes = Buffer.from(out.join(''));
      const cfg = config({ decoding: 'cri', multiline: { mode: 'java' } });
      const whole = run(cfg, bytes);
      const cut = 1 + (cutSeed % bytes.length);
      const a = new Assembler(cfg, 1 << 20, newDecodeCounts());
      const first = a.decode(bytes.subarray(0, cut), 0, false, '/x/app.log');
      const before = first.lines.toString() === '' ? [] : first.lines.toString().trimEnd().split('\n').map((l) => JSON.parse(l) as Event);
      const after = run(cfg, bytes.subarray(first.consumed));
      assert.deepEqual([...before, ...after], whole, `cut at ${cut}, position ${first.consumed}`);
    }),
    { numRuns: 500 },
  );
});

test('property: the same for the real traces in every built-in mode (a restart mid-trace reads the trace again from its first line)', () => {
  fc.assert(
    fc.property(fc.constantFrom('java', 'python', 'go'), fc.nat(), fc.nat(), (mode, cutSeed, split) => {
      const { text } = interleave(modes[mode] as readonly string[], 10, 2);
      const bytes = Buffer.from(text);
      const cfg = config({ multiline: { mode } });
      const whole = run(cfg, bytes);
      const cut = 1 + (cutSeed % bytes.length);
      // Read up to the crash in two reads, as a tailer would.
      const a = new Assembler(cfg, 1 << 20, newDecodeCounts());
      const s = split % cut;
      // (The output is a view into the assembler's reused buffer: read before the next call.)
      const events = (r: { lines: Buffer }): Event[] => (r.lines.length === 0 ? [] : r.lines.toString().trimEnd().split('\n').map((l) => JSON.parse(l) as Event));
      const r1 = a.decode(bytes.subarray(0, s), 0, false, '/x/app.log');
      const before = events(r1);
      const r2 = a.decode(Buffer.concat([bytes.subarray(r1.consumed, s), bytes.subarray(s, cut)]), s - r1.consumed, false, '/x/app.log');
      before.push(...events(r2));
      const after = run(cfg, bytes.subarray(r1.consumed + r2.consumed));
      assert.deepEqual(messages([...before, ...after]), messages(whole), `${mode}: cut at ${cut}`);
    }),
    { numRuns: 300 },
  );
});

/**
 * A cap on the output (the file source's: what one queue record holds) cuts the events of one read
 * into batches: together they are the events of an uncapped run, and the position after any batch
 * (`consumed`) is a restart point — a fresh assembler from there gives exactly the rest.
 */
test('property: an output cap cuts one read into batches with the same events, each batch\'s position a restart point (every mode, CRI too)', () => {
  fc.assert(
    fc.property(fc.constantFrom('java', 'python', 'go'), fc.boolean(), fc.integer({ min: 1, max: 3000 }), fc.nat(), (mode, cri, cap, crashSeed) => {
      const { text } = interleave(modes[mode] as readonly string[], 12, 2);
      const input = cri
        ? text
            .split(/(?<=\n)/)
            .map((l, i) => (l.length > 20 && i % 2 === 0 ? `2026-11-30T03:00:00Z stdout P ${l.slice(0, 10)}\n2026-11-30T03:00:00Z stdout F ${l.slice(10)}` : `2026-11-30T03:00:00Z stdout F ${l}`))
            .join('')
        : text;
      const cfg = config({ multiline: { mode }, ...(cri ? { decoding: 'cri' } : {}) });
      const bytes = Buffer.from(input);
      const whole = run(cfg, bytes);
      const a = new Assembler(cfg, 1 << 20, newDecodeCounts());
      const events = (r: { lines: Buffer }): Event[] => (r.lines.length === 0 ? [] : r.lines.toString().trimEnd().split('\n').map((l) => JSON.parse(l) as Event));
      const batches: { events: Event[]; position: number }[] = [];
      let position = 0;
      let carry = bytes;
      let d = a.decode(carry, 0, false, '/x/app.log', cap);
      for (;;) {
        position += d.consumed;
        batches.push({ events: events(d), position });
        carry = Buffer.from(carry.subarray(d.consumed));
        if (!d.more) break;
        assert.ok(d.events > 0, 'a call that stops early has emitted');
        d = a.decode(carry, carry.length, false, '/x/app.log', cap);
      }
      const rest = events(a.decode(carry, carry.length, 'all', '/x/app.log'));
      assert.deepEqual([...batches.flatMap((b) => b.events), ...rest], whole, `cap ${cap}`);
      if (Buffer.byteLength(whole.map((e) => JSON.stringify(e)).join('\n')) > 2 * cap + 4096) assert.ok(batches.length > 1, 'a large output is cut');
      const k = crashSeed % batches.length;
      const before = batches.slice(0, k + 1).flatMap((b) => b.events);
      const after = run(cfg, bytes.subarray((batches[k] as { position: number }).position));
      assert.deepEqual(messages([...before, ...after]), messages(whole), `${mode}: restart after batch ${k} of ${batches.length}`);
    }),
    { numRuns: 300 },
  );
});
