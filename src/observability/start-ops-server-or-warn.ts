import type { Config } from '../config/config.ts';
import type { Logger } from './logger.ts';
import { type OpsEndpoints, type OpsServer, startOpsServer } from './ops-endpoints.ts';

/**
 * Starts the ops server on METRICS_PORT/METRICS_HOST. When the port is taken (several workers on one machine, one
 * per GPU, with the default port) the process runs on without it and says which variable to set.
 */
export async function startOpsServerOrWarn(
  endpoints: OpsEndpoints,
  config: Pick<Config, 'METRICS_PORT' | 'METRICS_HOST'>,
  logger: Logger,
): Promise<OpsServer | undefined> {
  try {
    const server = await startOpsServer(endpoints, { port: config.METRICS_PORT, host: config.METRICS_HOST });
    logger.info({ url: server.url }, '/metrics, /healthz and /readyz listening');
    return server;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    logger.warn(
      { port: config.METRICS_PORT },
      'METRICS_PORT is in use: this process serves no /metrics; give each process on a machine its own METRICS_PORT (0 = any free port)',
    );
    return undefined;
  }
}
