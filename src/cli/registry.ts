/** Every component type the agent's config accepts: sources (from src/sources) and sinks. */
import type { Registry } from '../config/load';
import { sinkKinds } from '../sinks';
import type { Sink, SinkContext } from '../core/sink';
import type { Source } from '../core/source';
import { sourceKinds } from './source-kinds';

export type AgentRegistry = Registry<Source, SinkContext, Sink>;

export const agentRegistry: AgentRegistry = { sources: sourceKinds, sinks: sinkKinds };
