import type { ComponentContext } from '../../src/core/component';
import type { Diagnostics } from '../../src/core/diagnostics';
import { createDiagnostics } from '../../src/core/diagnostics';
import { nodeFileSystem, nodeReadFileSystem, systemClock, systemRandom } from '../../src/core/node-ports';

/** What a component factory gets, on the real ports; `log` silent unless given. */
export const componentContext = (id: string, log: Diagnostics = createDiagnostics({ level: 'silent' }), cwd = process.cwd()): ComponentContext => ({
  id,
  log,
  clock: systemClock,
  random: systemRandom,
  fs: nodeFileSystem,
  readFs: nodeReadFileSystem,
  cwd,
  agentId: 'test-agent',
});
