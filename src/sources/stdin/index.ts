/** The stdin source. See `source.ts`; docs/sources.md for the user's view. */
import { StdinSource } from './source';
import type { StdinSourceOptions } from './source';
import type { StdinSourceConfig } from './config';

export { stdinSourceSchema } from './config';
export type { StdinSourceConfig, StdinSourceConfigInput } from './config';
export { batchBound, StdinSource, StdinReadError } from './source';
export type { StdinSourceMetrics, StdinSourceOptions } from './source';

export function createStdinSource(config: StdinSourceConfig, options: StdinSourceOptions = {}): StdinSource {
  return new StdinSource(config, options);
}
