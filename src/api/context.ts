/** What every part of the HTTP API reads: the agent's context (see `ApiContext`) and the version it serves. */
import type { ApiContext } from '../pipeline/agent';

export interface AgentContext extends ApiContext {
  /** The sluice version (package.json), shown on the page and in `sluice_build_info`. */
  readonly version: string;
}
