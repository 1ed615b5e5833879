import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cutLines, frameLines } from '../../src/sources/lines';

test('framing keeps complete lines zero-copy and leaves the partial tail', () => {
  const input = Buffer.from('a\r\nbb\nccc');
  const f = frameLines(input, 100, false);
  assert.equal(f.lines.toString(), 'a\r\nbb\n');
  assert.equal(f.events, 2);
  assert.equal(f.consumed, 6);
  assert.equal(f.lines.buffer, input.buffer, 'no copy on the fast path');
});

test('framing any bytes loses nothing: lines plus the kept tail are the input, with only inserted newlines added', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), fc.integer({ min: 1, max: 40 }), fc.boolean(), (arr, maxLine, flush) => {
      const input = Buffer.from(arr);
      const f = frameLines(input, maxLine, flush);
      const rest = input.subarray(f.consumed);
      assert.ok(rest.length <= maxLine || flush);
      assert.ok(!rest.includes(10), 'the kept tail has no newline');
      if (flush) assert.equal(rest.length, 0);
      // Every event ends in a newline and no line is longer than maxLine.
      let n = 0;
      let start = 0;
      for (let i = f.lines.indexOf(10); i !== -1; i = f.lines.indexOf(10, i + 1)) {
        assert.ok(i - start <= maxLine);
        start = i + 1;
        n++;
      }
      assert.equal(start, f.lines.length);
      assert.equal(n, f.events);
      // Removing the inserted newlines gives back the consumed input.
      const inserted = f.splits + (flush && f.consumed > 0 && input[input.length - 1] !== 10 ? 1 : 0);
      assert.equal(f.lines.length, f.consumed + inserted);
    }),
  );
});

test('a long line of UTF-8 text is split on character boundaries: every piece decodes as it was written', () => {
  const text = 'é😀abc€'.repeat(40); // 2-, 4-, 1- and 3-byte characters
  for (let maxLine = 16; maxLine <= 40; maxLine++) {
    const f = frameLines(Buffer.from(`${text}\n`), maxLine, false);
    const pieces = f.lines.toString('utf8').split('\n').slice(0, -1);
    assert.ok(f.splits > 0);
    assert.equal(pieces.join(''), text, `maxLine ${maxLine}: no character was cut`);
    for (const p of pieces) {
      assert.ok(!p.includes('\ufffd'), `maxLine ${maxLine}: a piece holds a replacement character`);
      assert.ok(Buffer.byteLength(p) <= maxLine);
    }
  }
});

test('property: cutting lines for records keeps every line whole and in order, each piece within the bound and as full as it can be, or names the first line that cannot fit alone', () => {
  const line = fc.string({ maxLength: 40 }).map((s) => `${s.replaceAll('\n', ' ')}\n`);
  fc.assert(
    fc.property(fc.array(line, { maxLength: 30 }), fc.integer({ min: 1, max: 120 }), fc.nat(8), (ls, max, perLine) => {
      const input = Buffer.from(ls.join(''));
      const sizes = ls.map((l) => Buffer.byteLength(l));
      const cut = cutLines(input, max, perLine);
      const tooLarge = sizes.findIndex((n) => n + perLine > max);
      if (tooLarge !== -1) {
        assert.deepEqual(cut, { ok: false, index: tooLarge, bytes: sizes[tooLarge] });
        return;
      }
      assert.ok(cut.ok);
      assert.deepEqual(Buffer.concat(cut.pieces.map((p) => p.lines)), input, 'the pieces are the input, in order');
      let next = 0;
      for (const [k, p] of cut.pieces.entries()) {
        assert.equal(p.first, next);
        assert.ok(p.count >= 1);
        const own = sizes.slice(p.first, p.first + p.count);
        assert.equal(p.lines.length, own.reduce((a, b) => a + b, 0), 'a piece holds whole lines');
        assert.ok(p.lines.length + p.count * perLine <= max, `piece ${k} within the bound`);
        const following = sizes[p.first + p.count];
        if (following !== undefined) assert.ok(p.lines.length + following + (p.count + 1) * perLine > max, `piece ${k} could not take the next line`);
        assert.equal(p.lines.buffer, input.buffer, 'a view, not a copy');
        next += p.count;
      }
      assert.equal(next, ls.length);
    }),
    { numRuns: 500 },
  );
});
