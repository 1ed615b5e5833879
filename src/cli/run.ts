/** `sluice run` once the config is valid: open the agent, wire signals, run until it stops. */
import { Agent, EXIT, type AgentConfigT } from '../pipeline/agent';
import { errorText } from '../core/diagnostics';
import type { Diagnostics } from '../core/source';
import { catchSignals, onSignal } from './signals';
import { sluiceVersion } from './version';

export const runAgent = async (config: AgentConfigT, log: Diagnostics): Promise<number> => {
  let agent: Agent;
  try {
    // The HTTP API (status page, /api/status, /metrics, /health) when the config has `api:`; its
    // code (and prom-client) loads only then.
    agent = await Agent.open({ config, log, startApi: async (ctx) => (await import('../api/server.js')).startApi({ ...ctx, version: sluiceVersion() }) });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'SLUICE_QUEUE_LOCKED') {
      const pid = (err as { pid?: unknown }).pid;
      log.error(
        `data_dir ${config.dataDir} is in use by another sluice agent${typeof pid === 'number' ? ` (pid ${pid})` : ''}; ` +
          `stop that agent or give this one its own data_dir (SLUICE_QUEUE_LOCKED)`,
      );
      return EXIT.locked;
    }
    log.error(`cannot open the queue in ${config.dataDir}: ${errorText(err)}`);
    return EXIT.failure;
  }
  catchSignals();
  onSignal((sig) => {
    if (sig === 'SIGHUP') agent.reopenSinks();
    else agent.requestStop(sig);
  });
  try {
    return await agent.run();
  } finally {
    onSignal(undefined);
  }
};
