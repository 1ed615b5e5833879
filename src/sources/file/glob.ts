/**
 * A small glob for the file source (Node 20 has no `fs.glob`): brace expansion first, then a
 * directory walk that matches one path segment at a time with a RegExp.
 *
 * Supported: `*` (any run of characters inside one segment, dot files included), `?` (one
 * character), `[abc]` / `[a-z]` / `[!abc]` / `[^abc]` (one character from a class), `{a,b}`
 * (alternatives, nestable, may contain `/`), and `**` as a whole segment (zero or more directories).
 * `\` escapes the next character. Patterns are absolute (relative ones are resolved by the caller).
 *
 * The walk never follows a symlinked directory through `**` (no loops), but a literal or
 * single-segment match may go through a symlink, as a shell would. Directories are listed through
 * a `ReadFileSystem` port (the real one by default).
 */
import { join } from 'node:path';
import type { ReadDirEntry, ReadFileSystem } from '../../core/ports';
import { nodeReadFileSystem } from '../../core/node-ports';
import { GlobPatternError } from './errors';

/** Expands `{a,b}` alternatives (nested too) into plain patterns. */
export function expandBraces(pattern: string): string[] {
  // Find the first top-level brace group that contains a top-level comma.
  let depth = 0;
  let open = -1;
  const commas: number[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '[') {
      const close = classEnd(pattern, i);
      if (close > 0) i = close;
      continue;
    }
    if (c === '{') {
      if (depth === 0) {
        open = i;
        commas.length = 0;
      }
      depth++;
    } else if (c === '}' && depth > 0) {
      depth--;
      if (depth === 0) {
        if (commas.length > 0) {
          const head = pattern.slice(0, open);
          const tail = pattern.slice(i + 1);
          const parts: string[] = [];
          let from = open + 1;
          for (const comma of commas) {
            parts.push(pattern.slice(from, comma));
            from = comma + 1;
          }
          parts.push(pattern.slice(from, i));
          const out: string[] = [];
          for (const part of parts) for (const p of expandBraces(head + part + tail)) out.push(p);
          return out;
        }
        open = -1;
      }
    } else if (c === ',' && depth === 1) {
      commas.push(i);
    }
  }
  if (depth !== 0) throw new GlobPatternError(pattern, 'an opening "{" has no closing "}"');
  return [pattern];
}

/** Index of the `]` closing the class opened at `i`, or -1 when there is none (then `[` is literal). */
function classEnd(p: string, i: number): number {
  let j = i + 1;
  if (p[j] === '!' || p[j] === '^') j++;
  if (p[j] === ']') j++; // a leading `]` is a member
  for (; j < p.length; j++) {
    if (p[j] === '\\') j++;
    else if (p[j] === ']') return j;
    else if (p[j] === '/') return -1;
  }
  return -1;
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\/]/;

function escapeChar(c: string): string {
  return REGEX_SPECIAL.test(c) ? `\\${c}` : c;
}

/**
 * Translates glob syntax (no braces left) to a RegExp source. With `crossSlash`, `**` spans
 * directories (used for whole-path matching of excludes); otherwise the input is one segment.
 */
function toRegexSource(glob: string, crossSlash: boolean): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '\\') {
      const next = glob[i + 1];
      if (next !== undefined) {
        out += escapeChar(next);
        i++;
      } else {
        out += '\\\\';
      }
    } else if (c === '*') {
      if (crossSlash && glob[i + 1] === '*') {
        // `**/` matches zero or more whole directories; a bare `**` anything at all.
        if (glob[i + 2] === '/') {
          out += '(?:[^/]*/)*';
          i += 2;
        } else {
          out += '.*';
          i += 1;
        }
      } else {
        out += '[^/]*';
      }
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      const close = classEnd(glob, i);
      if (close < 0) {
        out += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, close);
      let negate = false;
      if (body[0] === '!' || body[0] === '^') {
        negate = true;
        body = body.slice(1);
      }
      let cls = '';
      for (let k = 0; k < body.length; k++) {
        const b = body[k] as string;
        if (b === '\\' && k + 1 < body.length) {
          cls += `\\${body[k + 1] as string}`;
          k++;
        } else if (b === '-') {
          cls += '-';
        } else if (b === ']' || b === '\\' || b === '^' || b === '[') {
          cls += `\\${b}`;
        } else {
          cls += b;
        }
      }
      out += negate ? `[^/${cls}]` : `[${cls}]`;
      i = close;
    } else {
      out += escapeChar(c);
    }
  }
  return out;
}

function hasMagic(segment: string): boolean {
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '*' || c === '?') return true;
    if (c === '[' && classEnd(segment, i) > 0) return true;
  }
  return false;
}

function unescape(segment: string): string {
  return segment.replace(/\\(.)/g, '$1');
}

type Segment =
  | { readonly kind: 'literal'; readonly name: string }
  | { readonly kind: 'match'; readonly re: RegExp }
  | { readonly kind: 'globstar' };

interface CompiledPattern {
  readonly base: string;
  readonly segments: readonly Segment[];
}

/** A set of include patterns (and optional excludes) that can list the files matching them now. */
export class Glob {
  private readonly patterns: CompiledPattern[] = [];
  private readonly excludes: RegExp[] = [];

  /**
   * @param include absolute patterns; @param exclude absolute patterns matched against whole paths;
   * @param fs what `list` walks (the real file system by default)
   */
  constructor(
    include: readonly string[],
    exclude: readonly string[] = [],
    private readonly fs: ReadFileSystem = nodeReadFileSystem,
  ) {
    for (const raw of include) {
      if (!raw.startsWith('/')) throw new GlobPatternError(raw, 'the pattern must be an absolute path');
      for (const p of expandBraces(raw)) this.patterns.push(compilePattern(p));
    }
    for (const raw of exclude) {
      for (const p of expandBraces(raw)) this.excludes.push(new RegExp(`^${toRegexSource(p, true)}$`));
    }
  }

  /** Whether an absolute path matches an include pattern and no exclude (no file system access). */
  matches(path: string): boolean {
    if (this.isExcluded(path)) return false;
    const parts = path.split('/').filter((s) => s.length > 0);
    return this.patterns.some((p) => {
      const baseParts = p.base.split('/').filter((s) => s.length > 0);
      for (let i = 0; i < baseParts.length; i++) if (parts[i] !== baseParts[i]) return false;
      return matchSegments(p.segments, 0, parts, baseParts.length);
    });
  }

  isExcluded(path: string): boolean {
    for (const re of this.excludes) if (re.test(path)) return true;
    return false;
  }

  /**
   * Walks the file system and returns every matching path (files, and also directories or other
   * entries that match: the caller decides what to do with them), without duplicates.
   * Directories that cannot be read are passed to `onError` and skipped.
   */
  async list(onError?: (dir: string, err: NodeJS.ErrnoException) => void): Promise<string[]> {
    const found = new Set<string>();
    for (const p of this.patterns) await walk(this.fs, p.base, p.segments, 0, found, onError);
    const out: string[] = [];
    for (const f of found) if (!this.isExcluded(f)) out.push(f);
    return out;
  }
}

function compilePattern(pattern: string): CompiledPattern {
  const parts = pattern.split('/').filter((s) => s.length > 0);
  let i = 0;
  const baseParts: string[] = [];
  for (; i < parts.length; i++) {
    const part = parts[i] as string;
    if (part === '**' || hasMagic(part)) break;
    baseParts.push(unescape(part));
  }
  const segments: Segment[] = [];
  for (; i < parts.length; i++) {
    const part = parts[i] as string;
    if (part === '**') {
      if (segments.at(-1)?.kind !== 'globstar') segments.push({ kind: 'globstar' });
    } else if (hasMagic(part)) {
      segments.push({ kind: 'match', re: new RegExp(`^${toRegexSource(part, false)}$`) });
    } else {
      segments.push({ kind: 'literal', name: unescape(part) });
    }
  }
  if (segments.length > 0 && segments.at(-1)?.kind === 'globstar') {
    // A trailing `**` means "every file below": equivalent to `**/*`.
    segments.push({ kind: 'match', re: /^.*$/ });
  }
  return { base: `/${baseParts.join('/')}`, segments };
}

function matchSegments(segs: readonly Segment[], si: number, parts: readonly string[], pi: number): boolean {
  if (si === segs.length) return pi === parts.length;
  const seg = segs[si] as Segment;
  if (seg.kind === 'globstar') {
    for (let k = pi; k <= parts.length; k++) if (matchSegments(segs, si + 1, parts, k)) return true;
    return false;
  }
  const part = parts[pi];
  if (part === undefined) return false;
  const ok = seg.kind === 'literal' ? seg.name === part : seg.re.test(part);
  return ok && matchSegments(segs, si + 1, parts, pi + 1);
}

async function walk(
  fs: ReadFileSystem,
  dir: string,
  segs: readonly Segment[],
  si: number,
  found: Set<string>,
  onError: ((dir: string, err: NodeJS.ErrnoException) => void) | undefined,
): Promise<void> {
  if (si === segs.length) {
    found.add(dir);
    return;
  }
  const seg = segs[si] as Segment;
  if (seg.kind === 'literal') {
    // No readdir needed: the next step finds out whether it exists.
    const next = join(dir, seg.name);
    if (si + 1 === segs.length) {
      found.add(next);
      return;
    }
    await walk(fs, next, segs, si + 1, found, onError);
    return;
  }
  let entries: ReadDirEntry[];
  try {
    entries = await fs.readdirTyped(dir);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code !== 'ENOENT' && err.code !== 'ENOTDIR') onError?.(dir, err);
    return;
  }
  if (seg.kind === 'globstar') {
    await walk(fs, dir, segs, si + 1, found, onError); // zero directories
    for (const e of entries) {
      if (e.type === 'directory') await walk(fs, join(dir, e.name), segs, si, found, onError);
    }
    return;
  }
  const last = si + 1 === segs.length;
  for (const e of entries) {
    if (!seg.re.test(e.name)) continue;
    const next = join(dir, e.name);
    if (last) found.add(next);
    else if (e.type === 'directory' || e.type === 'symlink') await walk(fs, next, segs, si + 1, found, onError);
  }
}
