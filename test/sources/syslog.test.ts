import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SyslogFramer, datagramFrames, type FrameKind, type Framing } from '../../src/sources/syslog/framing';
import { parseSyslog } from '../../src/sources/syslog/parse';

interface Got {
  readonly text: string;
  readonly kind: FrameKind;
}

/** Frames of `input` fed in the given chunks, then ended. */
const frames = (input: Buffer, cuts: readonly number[] = [], mode: Framing = 'auto', max = 1024): Got[] => {
  const f = new SyslogFramer(mode, max);
  const out: Got[] = [];
  const take = (b: Buffer, kind: FrameKind): void => {
    out.push({ text: b.toString('latin1'), kind });
  };
  let prev = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    // A fresh copy per read, then scribbled over: the framer must not keep views of a caller's buffer.
    const chunk = Buffer.from(input.subarray(prev, c));
    f.push(chunk, take);
    chunk.fill(0x21);
    prev = c;
  }
  f.push(Buffer.from(input.subarray(prev)), take);
  f.end(take);
  return out;
};

const texts = (g: readonly Got[]): string[] => g.map((x) => x.text);
const octet = (msg: string): string => `${Buffer.byteLength(msg, 'latin1')} ${msg}`;

test('an octet-counted frame loses one trailing LF when the sender counted it (rsyslog) and not otherwise (logger)', () => {
  const rsyslog = octet('<13>1 - h a - - - hello\n') + octet('<13>1 - h a - - - two\nlines\n');
  const logger = octet('<13>1 - h a - - - hello') + octet('<13>1 - h a - - - two\nlines');
  const want = ['<13>1 - h a - - - hello', '<13>1 - h a - - - two\nlines'];
  assert.deepEqual(texts(frames(Buffer.from(rsyslog, 'latin1'))), want);
  assert.deepEqual(texts(frames(Buffer.from(logger, 'latin1'))), want);
});

test('auto framing decides per frame: counted and LF frames mix, and digits without a space start an LF frame', () => {
  const input = `${octet('<13>a b')}<14>lf one\n12abc not a count\n\n${octet('<15>c\nd')}\n<16>last without LF`;
  assert.deepEqual(texts(frames(Buffer.from(input, 'latin1'))), ['<13>a b', '<14>lf one', '12abc not a count', '<15>c\nd', '<16>last without LF']);
});

test('newline framing never reads a count, and strips a CR before the LF', () => {
  assert.deepEqual(texts(frames(Buffer.from('5 abcde\r\n<1>x\n'), [], 'newline')), ['5 abcde', '<1>x']);
});

test('octet_counting mode reads a frame without a count as an LF frame and counts it', () => {
  const f = new SyslogFramer('octet_counting', 1024);
  const out: string[] = [];
  f.push(Buffer.from(`${octet('<1>a')}<2>b\n${octet('<3>c')}`), (b) => out.push(b.toString()));
  assert.deepEqual(out, ['<1>a', '<2>b', '<3>c']);
  assert.equal(f.counters.badCounts, 1);
});

test('a frame longer than max_message_bytes is kept as pieces of that size, in order, and counted once', () => {
  const long = `<13>${'x'.repeat(250)}`;
  for (const input of [`${long}\n<14>next\n`, `${octet(long)}${octet('<14>next')}`]) {
    const f = new SyslogFramer('auto', 100);
    const out: Got[] = [];
    for (const b of Buffer.from(input)) f.push(Buffer.from([b]), (x, kind) => out.push({ text: x.toString(), kind }));
    f.end((x, kind) => out.push({ text: x.toString(), kind }));
    assert.deepEqual(
      out.map((g) => g.kind),
      ['head', 'tail', 'tail', 'whole'],
    );
    assert.equal(out.slice(0, 3).map((g) => g.text).join(''), long);
    assert.equal(out[3]?.text, '<14>next');
    assert.equal(f.counters.split, 1);
  }
});

test('a counted frame the stream ends inside is kept as what arrived, marked cut', () => {
  const f = new SyslogFramer('auto', 1024);
  const out: Got[] = [];
  f.push(Buffer.from('20 <13>only part'), (b, kind) => out.push({ text: b.toString(), kind }));
  f.end((b, kind) => out.push({ text: b.toString(), kind }));
  assert.deepEqual(out, [{ text: '<13>only part', kind: 'cut' }]);
  assert.equal(f.counters.cut, 1);
});

test('a datagram is one message without its trailing newline; a long one is split', () => {
  const out: string[] = [];
  assert.equal(datagramFrames(Buffer.from('<13>hi\r\n'), 100, (b) => out.push(b.toString())), 0);
  assert.equal(datagramFrames(Buffer.from('\n'), 100, (b) => out.push(b.toString())), 0);
  assert.equal(datagramFrames(Buffer.from(`<13>${'y'.repeat(150)}`), 100, (b) => out.push(b.toString())), 1);
  assert.deepEqual(
    out.map((s) => s.length),
    [6, 100, 54],
  );
});

test('property: any bytes cut into any reads give the same frames as one read, and never throw', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 600 }),
      fc.array(fc.nat(600), { maxLength: 12 }),
      fc.constantFrom<Framing>('auto', 'octet_counting', 'newline'),
      fc.integer({ min: 64, max: 200 }),
      (bytes, cutsRaw, mode, max) => {
        const input = Buffer.from(bytes);
        const cuts = cutsRaw.map((c) => Math.min(c, input.length));
        const whole = frames(input, [], mode, max);
        const split = frames(input, cuts, mode, max);
        assert.deepEqual(split, whole);
        for (const g of whole) assert.ok(g.text.length > 0 && g.text.length <= max);
      },
    ),
    { numRuns: 500 },
  );
});

/** A syslog message without LF (so it can be LF-framed too). */
const goodMessage = fc
  .tuple(fc.integer({ min: 0, max: 191 }), fc.string({ maxLength: 60 }).map((s) => s.replace(/[\n\r]/g, ' ')))
  .map(([pri, text]) => `<${pri}>1 2026-11-30T00:00:00Z host app 42 ID - ${text}`);
/** Garbage that cannot be mistaken for an octet count (it does not start with 1-9) and holds no LF. */
const garbage = fc
  .uint8Array({ minLength: 1, maxLength: 80 })
  .map((a) => Buffer.from(a.filter((b) => b !== 0x0a)).toString('latin1'))
  .filter((s) => s.length > 0 && !/^[1-9]/.test(s) && !/^[\r]*$/.test(s));

test('property: good frames around garbage lines come out whole and in order, however the reads are cut', () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.record({ good: fc.constant(true), text: goodMessage, counted: fc.boolean() }), fc.record({ good: fc.constant(false), text: garbage, counted: fc.constant(false) })), {
        maxLength: 20,
      }),
      fc.array(fc.nat(4000), { maxLength: 20 }),
      (items, cutsRaw) => {
        const wire = items.map((it) => (it.counted ? octet(Buffer.from(it.text, 'utf8').toString('latin1')) : `${Buffer.from(it.text, 'utf8').toString('latin1')}\n`)).join('');
        const input = Buffer.from(wire, 'latin1');
        const got = frames(
          input,
          cutsRaw.map((c) => Math.min(c, input.length)),
          'auto',
          4096,
        ).map((g) => Buffer.from(g.text, 'latin1').toString('utf8'));
        const goods = items.filter((it) => it.good).map((it) => it.text);
        assert.deepEqual(
          got.filter((t) => goods.includes(t)),
          goods,
        );
        for (const g of goods) assert.ok(parseSyslog(g, 0) !== null, g);
      },
    ),
    { numRuns: 300 },
  );
});

const NOW = Date.UTC(2026, 10, 30, 12, 0, 0);

test('RFC 5424: header fields, structured data with escapes, BOM and NILVALUEs', () => {
  const ev = parseSyslog(
    '<165>1 2003-10-11T22:14:15.003000-07:00 mymachine.example.com evntslog 8710 ID47 [exampleSDID@32473 iut="3" eventSource="Appl\\"ic\\]ation"][examplePriority@32473 class="high"] \uFEFFAn application event',
    NOW,
  );
  assert.deepEqual(ev, {
    facility: 'local4',
    severity: 'notice',
    version: 1,
    timestamp: '2003-10-11T22:14:15.003000-07:00',
    hostname: 'mymachine.example.com',
    appname: 'evntslog',
    procid: 8710,
    msgid: 'ID47',
    'exampleSDID@32473': { iut: '3', eventSource: 'Appl"ic]ation' },
    'examplePriority@32473': { class: 'high' },
    message: 'An application event',
  });
  assert.deepEqual(parseSyslog('<34>1 - - - - - -', NOW), { facility: 'auth', severity: 'crit', version: 1, message: '' });
  assert.deepEqual(parseSyslog('<13>1 - h a p m [message x="1"] hi', NOW)?.['sd:message'], { x: '1' });
});

test('RFC 3164: BSD timestamp in the current year, hostname, tag and pid; variants without hostname or with an RFC 3339 time', () => {
  const ev = parseSyslog("<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick", NOW);
  assert.equal(ev?.['facility'], 'auth');
  assert.equal(ev?.['severity'], 'crit');
  assert.equal(ev?.['hostname'], 'mymachine');
  assert.equal(ev?.['appname'], 'su');
  assert.equal(ev?.['procid'], 123);
  assert.equal(ev?.['message'], "'su root' failed for lonvick");
  assert.equal(ev?.['timestamp'], new Date(2026, 9, 11, 22, 14, 15).toISOString());
  // December seen in early January belongs to the previous year.
  const jan = new Date(2027, 0, 1, 0, 5).getTime();
  assert.equal(parseSyslog('<13>Dec 31 23:59:59 h app: x', jan)?.['timestamp'], new Date(2026, 11, 31, 23, 59, 59).toISOString());
  assert.deepEqual(parseSyslog('<13>Nov  3 01:02:03 cron: job done', NOW), {
    facility: 'user',
    severity: 'notice',
    timestamp: new Date(2026, 10, 3, 1, 2, 3).toISOString(),
    appname: 'cron',
    message: 'job done',
  });
  assert.deepEqual(parseSyslog('<86>2026-11-30T10:00:00.5+01:00 web sshd[7]: Accepted key', NOW), {
    facility: 'authpriv',
    severity: 'info',
    timestamp: '2026-11-30T10:00:00.5+01:00',
    hostname: 'web',
    appname: 'sshd',
    procid: 7,
    message: 'Accepted key',
  });
  assert.deepEqual(parseSyslog('<13>just text', NOW), { facility: 'user', severity: 'notice', message: 'just text' });
});

test('what is not syslog does not parse (the source keeps it raw): no PRI, PRI above 191, broken structured data', () => {
  for (const line of ['hello', '<>x', '<192>x', '<1234>x', '13>x', '<13>1 - - - - - [broken', '<13>1 - - - - - [id a=1]', '<13>1 ts host']) {
    assert.equal(parseSyslog(line, NOW), null, line);
  }
});

test('property: the parser never throws on any text and its events survive JSON', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.string({ maxLength: 200 }).map((s) => `<13>1 ${s}`), fc.string({ maxLength: 200 }).map((s) => `<13>${s}`)), (line) => {
      const ev = parseSyslog(line, NOW);
      if (ev !== null) {
        assert.equal(Object.getPrototypeOf(ev), Object.prototype);
        assert.deepEqual(JSON.parse(JSON.stringify(ev)), ev);
      }
    }),
    { numRuns: 2000 },
  );
});
