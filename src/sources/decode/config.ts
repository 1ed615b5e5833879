/**
 * The `multiline`, `decoding` and `parse_json` keys, shared by the file and stdin sources
 * (docs/sources.md, "Events: multiline, JSON and CRI"). Unknown keys are errors; a pattern that is
 * not a valid regular expression is an error naming its key.
 */
import * as z from 'zod';
import { durationSchema, sizeSchema } from '../../core/units';

const MiB = 1024 * 1024;

const regex = z.string().min(1, 'a pattern cannot be empty').superRefine((p, ctx) => {
  try {
    new RegExp(p);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: `not a valid regular expression (${(e as Error).message}); write a JavaScript RegExp, e.g. '^\\d{4}-\\d{2}-\\d{2}'` });
  }
});

export const MULTILINE_MODES = ['java', 'python', 'go', 'start_pattern', 'continue_pattern'] as const;
export type MultilineMode = (typeof MULTILINE_MODES)[number];

export const multilineSchema = z
  .strictObject({
    /** How lines are grouped into events: a runtime's stack traces, or a pattern. */
    mode: z.enum(MULTILINE_MODES),
    /** `start_pattern` mode: a line matching it starts an event; other lines continue it. */
    start_pattern: regex.optional(),
    /** `continue_pattern` mode: a line matching it continues the event before it; other lines start one. */
    continue_pattern: regex.optional(),
    /** A pending event is emitted once no line came for this long (counted from its last line). */
    timeout: durationSchema.pipe(z.int().min(1, 'timeout must be at least 1ms').max(3_600_000, 'timeout is at most 1h')).default(1000),
    /** An event is cut after this many lines; the cut is flagged and counted, the rest is a new event. */
    max_lines: z.int().min(2).max(1_000_000).default(1000),
    /** An event is cut before it grows past this many bytes (as in the input); flagged and counted. */
    max_bytes: sizeSchema.pipe(z.int().min(1024).max(64 * MiB)).default(MiB),
  })
  .superRefine((m, ctx) => {
    const need = m.mode === 'start_pattern' ? 'start_pattern' : m.mode === 'continue_pattern' ? 'continue_pattern' : null;
    for (const key of ['start_pattern', 'continue_pattern'] as const) {
      if (key === need && m[key] === undefined) ctx.addIssue({ code: 'custom', path: [key], message: `mode: ${m.mode} needs ${key}: a regular expression` });
      if (key !== need && m[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `${key} applies to mode: ${key} only; remove it or set mode: ${key}` });
    }
  });

export type MultilineConfig = z.output<typeof multilineSchema>;

/** The keys a source that reads lines adds to its own schema. */
export const decodeKeys = {
  /** Group lines into events (stack traces); absent: every line is an event. */
  multiline: multilineSchema.optional(),
  /** `text`: lines as read; `json`: each event parsed into an object; `cri`: the container runtime's log format. */
  decoding: z.enum(['text', 'json', 'cri']).default('text'),
  /** With `decoding: cri`: each joined message is also parsed as JSON (its fields become the event's). */
  parse_json: z.boolean().default(false),
};

/** What the decoder needs (the source config's decode keys after defaults; absent ones mean text, as for a config built by hand). */
export interface DecodeConfig {
  readonly multiline?: MultilineConfig | undefined;
  readonly decoding?: 'text' | 'json' | 'cri' | undefined;
  readonly parse_json?: boolean | undefined;
}

/** The cross-key rule, for the source schemas' `superRefine`. */
export function checkDecodeKeys(c: DecodeConfig, ctx: z.RefinementCtx): void {
  if (c.parse_json === true && c.decoding !== 'cri') {
    ctx.addIssue({ code: 'custom', path: ['parse_json'], message: 'parse_json applies to decoding: cri only; for JSON lines write decoding: json' });
  }
}

/**
 * What a source keeps in front of its next read, as far as it ends up in one batch: the partial
 * line (up to `max_line_bytes`), or with `multiline` the pending event (up to `multiline.max_bytes`).
 * Names the key that sets it, for messages.
 */
export const heldBound = (c: DecodeConfig & { readonly max_line_bytes: number }): { readonly bytes: number; readonly key: string } => {
  const ev = c.multiline?.max_bytes ?? 0;
  return ev > c.max_line_bytes ? { bytes: ev, key: 'multiline.max_bytes' } : { bytes: c.max_line_bytes, key: 'max_line_bytes' };
};

/** Whether lines go through the decoder at all (else: the plain line path, no per-line work). */
export const decodes = (c: DecodeConfig): boolean => c.multiline !== undefined || c.decoding === 'json' || c.decoding === 'cri';
