/**
 * The multiline modes: each one classifies the lines of an input, in order, as the start of a new
 * event, the continuation of the pending one, or — where the runtime's output needs one line of
 * look-ahead — `maybe`: a line that belongs to the pending event only if a later line continues it
 * (a blank line between a Python exception and "During handling of the above exception…", a Go
 * function line that its indented file line confirms). The assembler (`assembler.ts`) holds `maybe`
 * lines back and decides when the next `start` or `continue` comes.
 *
 * The built-in modes look at a line's first bytes only (no regular expression, no string); the
 * pattern modes test a `RegExp` on the line's text. What each runtime prints, and so each rule, is
 * in docs/sources.md ("multiline") with the real traces in test/fixtures/traces/.
 */
import type { MultilineConfig } from './config';

export type Verdict = 'start' | 'continue' | 'maybe';

/** Classifies lines in order; `line` is `buf[a, b)` without its `\n` (a `\r` before it is left out too). */
export interface Grouper {
  next(buf: Buffer, a: number, b: number): Verdict;
  /** Forgets the state: nothing is pending any more (an event was emitted on a timeout or a cut). */
  reset(): void;
}

const TAB = 9;
const SPACE = 32;

const indented = (buf: Buffer, a: number, b: number): boolean => {
  if (a >= b) return false;
  const c = buf[a];
  return c === TAB || c === SPACE;
};

const blank = (buf: Buffer, a: number, b: number): boolean => {
  for (let i = a; i < b; i++) {
    const c = buf[i];
    if (c !== SPACE && c !== TAB) return false;
  }
  return true;
};

/** `buf[a, b)` starts with `prefix` (ASCII). */
const startsWith = (buf: Buffer, a: number, b: number, prefix: Buffer): boolean => b - a >= prefix.length && buf.compare(prefix, 0, prefix.length, a, a + prefix.length) === 0;

/** The first non-blank byte at or after `a` (or `b`). */
const skipBlank = (buf: Buffer, a: number, b: number): number => {
  let i = a;
  while (i < b && (buf[i] === SPACE || buf[i] === TAB)) i++;
  return i;
};

const CAUSED_BY = Buffer.from('Caused by: ');
const SUPPRESSED = Buffer.from('Suppressed: ');

/**
 * Java (`Throwable.printStackTrace`, logback, log4j): an event starts at every line that is not
 * indented; indented lines (`\tat …`, `\t... 3 more`, `\tSuppressed: …`, `\tCaused by: …` inside a
 * suppressed trace) and `Caused by: …` continue it. The exception's own line (`Exception in thread
 * "main" java.lang.…`, or `java.lang.IllegalStateException: …` printed after a log line) starts the
 * trace's event.
 */
class JavaGrouper implements Grouper {
  next(buf: Buffer, a: number, b: number): Verdict {
    if (a >= b) return 'start';
    const c = buf[a];
    if (c === TAB || c === SPACE) return 'continue';
    if (c === 67 /* C */ && startsWith(buf, a, b, CAUSED_BY)) return 'continue';
    if (c === 83 /* S */ && startsWith(buf, a, b, SUPPRESSED)) return 'continue';
    return 'start';
  }
  reset(): void {}
}

const TRACEBACK = Buffer.from('Traceback (most recent call last):');
const GROUP_TRACEBACK = Buffer.from('+ Exception Group Traceback (most recent call last):');
const DURING = Buffer.from('During handling of the above exception, another exception occurred:');
const CAUSE = Buffer.from('The above exception was the direct cause of the following exception:');

/**
 * Python: an event starts at `Traceback (most recent call last):`; indented lines (frames, source
 * lines, `^^^^` markers) continue it, and so does the first line that is not indented — the
 * exception (`ValueError: …`). After it, indented lines (notes, exception groups) continue it, and a
 * chained exception — blank lines, "During handling of the above exception, another exception
 * occurred:" (or "The above exception was the direct cause…"), blank lines, `Traceback …` — joins
 * the same event. Every other line is an event of its own.
 */
class PythonGrouper implements Grouper {
  private state: 'none' | 'tb' | 'group' | 'exc' | 'chain' = 'none';
  next(buf: Buffer, a: number, b: number): Verdict {
    const s = this.state;
    if (startsWith(buf, a, b, TRACEBACK)) {
      if (s === 'chain') {
        this.state = 'tb';
        return 'continue';
      }
      this.state = 'tb';
      return 'start';
    }
    if (indented(buf, a, b) && startsWith(buf, skipBlank(buf, a, b), b, GROUP_TRACEBACK)) {
      this.state = 'group';
      return s === 'chain' ? 'continue' : 'start';
    }
    switch (s) {
      case 'tb':
        if (indented(buf, a, b)) return 'continue';
        if (blank(buf, a, b)) return 'maybe';
        this.state = 'exc';
        return 'continue';
      case 'group':
        if (indented(buf, a, b)) return 'continue';
        if (blank(buf, a, b)) return 'maybe';
        break;
      case 'exc':
        if (blank(buf, a, b)) return 'maybe';
        if (indented(buf, a, b)) return 'continue';
        if (startsWith(buf, a, b, DURING) || startsWith(buf, a, b, CAUSE)) {
          this.state = 'chain';
          return 'continue';
        }
        break;
      case 'chain':
        if (blank(buf, a, b)) return 'continue';
        break;
      case 'none':
        break;
    }
    this.state = 'none';
    return 'start';
  }
  reset(): void {
    this.state = 'none';
  }
}

const PANIC = Buffer.from('panic: ');
const FATAL = Buffer.from('fatal error: ');
const GOROUTINE = Buffer.from('goroutine ');
const RUNTIME_STACK = Buffer.from('runtime stack:');
const SIGNAL = Buffer.from('[signal ');

/**
 * Go: an event starts at `panic: …` or `fatal error: …` (or a bare `goroutine N [state]:` dump);
 * `[signal …]`, indented lines, blank lines followed by `goroutine N [state]:` or `runtime stack:`,
 * and the goroutines' frames — a function line (`main.main()`, `created by …`) confirmed by the
 * indented `\t/path/file.go:12 +0x1d` line after it — continue it.
 */
class GoGrouper implements Grouper {
  private state: 'none' | 'panic' | 'stack' = 'none';
  /** The last line was a `maybe` (blank, or an unconfirmed function line). */
  private held: 'none' | 'blank' | 'func' = 'none';
  next(buf: Buffer, a: number, b: number): Verdict {
    const s = this.state;
    const held = this.held;
    this.held = 'none';
    if (startsWith(buf, a, b, PANIC) || startsWith(buf, a, b, FATAL)) {
      this.state = 'panic';
      return 'start';
    }
    if (startsWith(buf, a, b, GOROUTINE) || startsWith(buf, a, b, RUNTIME_STACK)) {
      this.state = 'stack';
      return s === 'none' || held === 'func' ? 'start' : 'continue';
    }
    if (s !== 'none') {
      if (blank(buf, a, b)) {
        if (held === 'func') return this.end();
        this.held = 'blank';
        return 'maybe';
      }
      if (indented(buf, a, b)) return held === 'blank' ? this.end() : 'continue';
      if (s === 'panic' && held === 'none' && startsWith(buf, a, b, SIGNAL)) return 'continue';
      if (s === 'stack' && held === 'none') {
        this.held = 'func';
        return 'maybe';
      }
    }
    return this.end();
  }
  private end(): Verdict {
    this.state = 'none';
    this.held = 'none';
    return 'start';
  }
  reset(): void {
    this.state = 'none';
    this.held = 'none';
  }
}

/** A line matching the pattern starts an event (`start_pattern`), or continues one (`continue_pattern`). */
class PatternGrouper implements Grouper {
  constructor(
    private readonly re: RegExp,
    private readonly matchStarts: boolean,
  ) {}
  next(buf: Buffer, a: number, b: number): Verdict {
    const m = this.re.test(buf.toString('utf8', a, b));
    return m === this.matchStarts ? 'start' : 'continue';
  }
  reset(): void {}
}

export function grouperFor(cfg: MultilineConfig): Grouper {
  switch (cfg.mode) {
    case 'java':
      return new JavaGrouper();
    case 'python':
      return new PythonGrouper();
    case 'go':
      return new GoGrouper();
    case 'start_pattern':
      return new PatternGrouper(new RegExp(cfg.start_pattern ?? '^'), true);
    case 'continue_pattern':
      return new PatternGrouper(new RegExp(cfg.continue_pattern ?? '$^'), false);
  }
}
