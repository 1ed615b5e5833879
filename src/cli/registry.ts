/** Every component type the agent's config accepts: the source and sink registries, side by side. */
import type { Registry } from '../core/component';
import { sinkKinds } from '../sinks';
import { sourceKinds } from '../sources';

export const agentRegistry: Registry = { sources: sourceKinds, sinks: sinkKinds };
