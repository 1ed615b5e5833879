/** The version in package.json (read once; "unknown" if it cannot be read). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

let cached: string | undefined;

export const sluiceVersion = (): string => {
  if (cached !== undefined) return cached;
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version?: string };
    cached = pkg.version ?? 'unknown';
  } catch {
    cached = 'unknown';
  }
  return cached;
};
