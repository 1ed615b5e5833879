import * as z from 'zod';
import { sizeSchema } from '../../core/units';
import { checkDecodeKeys, decodeKeys } from '../decode/config';

/** The stdin source's configuration (`type: stdin`). Unknown keys are errors. */
export const stdinSourceSchema = z.strictObject({
  type: z.literal('stdin'),
  /** Longest line kept whole (bytes, without its newline); longer lines are split and counted. */
  max_line_bytes: sizeSchema.pipe(z.int().min(16).max(64 * 1024 * 1024)).default(1024 * 1024),
  /** `multiline`, `decoding`, `parse_json`: events instead of lines (`../decode`, docs/sources.md). */
  ...decodeKeys,
}).superRefine(checkDecodeKeys);

export type StdinSourceConfig = z.output<typeof stdinSourceSchema>;
export type StdinSourceConfigInput = z.input<typeof stdinSourceSchema>;
