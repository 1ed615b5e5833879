/**
 * The file source's configuration, as the user writes it under `sources.<id>` (snake_case keys).
 * Unknown keys are errors. Every tuning key has a default; docs/sources.md explains each one.
 */
import * as z from 'zod';
import { expandBraces } from './glob';
import { GlobPatternError } from './errors';
import { sizeSchema } from '../../core/units';
import { checkDecodeKeys, decodeKeys } from '../decode/config';

const KiB = 1024;
const MiB = 1024 * KiB;

const pattern = z
  .string()
  .min(1, 'a file pattern cannot be empty')
  .superRefine((p, ctx) => {
    try {
      expandBraces(p);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: e instanceof GlobPatternError ? e.message : String(e) });
    }
  });

export const fileSourceSchema = z.strictObject({
  type: z.literal('file'),
  /** Glob patterns of the files to tail (`*`, `?`, `**`, `[...]`, `{a,b}`). Relative ones are resolved against the working directory. */
  include: z.array(pattern).min(1, 'list at least one file pattern'),
  /** Patterns matched against whole paths; a matching file is never read. */
  exclude: z.array(pattern).default([]),
  /** Where to start in a file sluice has never seen that exists at start-up: `beginning` or `end`. */
  start_at: z.enum(['beginning', 'end']).default('beginning'),
  /** How often the patterns are re-expanded to find new, renamed and removed files. */
  glob_interval_ms: z.int().min(10).max(3_600_000).default(1000),
  /** Longest line kept whole (bytes, without its newline); longer lines are split and counted. */
  max_line_bytes: sizeSchema.pipe(z.int().min(16).max(64 * MiB)).default(MiB),
  /** How many first bytes identify a file (its fingerprint). */
  fingerprint_bytes: sizeSchema.pipe(z.int().min(16).max(64 * KiB)).default(256),
  /** Size of one read (and so of the largest batch). */
  read_buffer_bytes: sizeSchema.pipe(z.int().min(4 * KiB).max(64 * MiB)).default(512 * KiB),
  /**
   * Opt-in: a partial last line is emitted (with a `\n` added) after the file has not grown for this
   * long. 0 (the default) = only when the file is finished (rotated away and drained, deleted,
   * truncated): a writer pausing mid-line never splits the line.
   */
  idle_flush_ms: z.int().min(0).max(3_600_000).default(0),
  /** A file that was renamed away or deleted is read to its end and let go after it has not grown for this long. */
  rotate_wait_ms: z.int().min(0).max(3_600_000).default(5000),
  /** A file still matching the patterns that has not grown for this long is closed (its position kept) and reopened when it changes. 0 = never. */
  close_idle_ms: z.int().min(0).default(300_000),
  /** A remembered position whose file has not been seen for this long is forgotten. */
  forget_after_ms: z.int().min(0).default(24 * 3_600_000),
  /** Bound on remembered positions of files that are gone; the oldest are forgotten first. */
  max_remembered_files: z.int().min(1).max(1_000_000).default(10_000),
  /** Batches handed to the queue whose durability is not yet confirmed (pipelining). */
  max_batches_in_flight: z.int().min(1).max(64).default(4),
  /** `multiline`, `decoding`, `parse_json`: events instead of lines (`../decode`, docs/sources.md). */
  ...decodeKeys,
}).superRefine(checkDecodeKeys);

/** The file source's configuration after defaults are applied. */
export type FileSourceConfig = z.output<typeof fileSourceSchema>;
/** What a user may write (defaults optional). */
export type FileSourceConfigInput = z.input<typeof fileSourceSchema>;
