/**
 * Sources whose code is loaded when they start running, not when the registry is: a config that
 * does not use the network sources does not pay at start-up for their modules (node:http, node:tls,
 * protobufjs with the OTLP schema, …). The config schema stays eager (validation needs it).
 */
import type { Source } from '../core/source';

/**
 * A source that imports its implementation (`load`) the first time it runs; its counters
 * (`stats`) and SIGHUP `reload` reach the loaded source (nothing before it runs).
 */
export const loadedOnRun = (load: () => Promise<Source>): Source => {
  let loaded: Source | undefined;
  return {
    run: async (ctx) => {
      loaded ??= await load();
      return loaded.run(ctx);
    },
    stats: () => loaded?.stats?.() ?? {},
    reload: async () => {
      await loaded?.reload?.();
    },
  };
};
