import type { Config } from '../../src/config/config.ts';
import type { Logger } from '../../src/observability/logger.ts';

/**
 * `ziya-visual-bot adapter lark`: the Feishu/Lark adapter alone on the shared Redis. Missing settings exit with 2,
 * refused credentials (the token call fails) with 1, each as one clear line that never contains a secret. A platform
 * that is merely unreachable, or a long connection that does not come up, is retried while `/readyz` says not ready.
 */
export async function runLarkAdapterCommand(config: Config, logger: Logger): Promise<void> {
  const { larkSettingsFromConfig } = await import('../../adapters/lark/lark-config.ts');
  const { isLarkStartError } = await import('../../adapters/lark/run-lark-adapter.ts');
  let settings: ReturnType<typeof larkSettingsFromConfig>;
  try {
    settings = larkSettingsFromConfig(config);
  } catch (error) {
    if (!isLarkStartError(error)) throw error;
    logger.error(`adapter lark: ${error.message}`);
    process.exitCode = 2;
    return;
  }
  if (settings === undefined || config.REDIS_URL === undefined) {
    logger.error(
      settings === undefined
        ? 'adapter lark: LARK_APP_ID is unset. Create a custom app in the Feishu/Lark developer console and set LARK_APP_ID and LARK_APP_SECRET.'
        : 'adapter lark: REDIS_URL is unset. An adapter shares Redis with the workers; `start` runs everything in one process instead.',
    );
    process.exitCode = 2;
    return;
  }
  const { createRedisConnection } = await import('../../src/redis/redis-connection.ts');
  const { createPipelineContext } = await import('../../src/pipeline/pipeline-context.ts');
  const { onShutdownSignal } = await import('../../src/pipeline/on-shutdown-signal.ts');
  const { startLarkAdapter } = await import('../../adapters/lark/lark-adapter.ts');
  const { createMetricsRegistry } = await import('../../src/observability/metrics.ts');
  const { Readiness, redisCheck } = await import('../../src/observability/readiness.ts');
  const { startOpsServerOrWarn } = await import('../../src/observability/start-ops-server-or-warn.ts');
  const redis = createRedisConnection(config.REDIS_URL);
  const events = createRedisConnection(config.REDIS_URL);
  const pipeline = createPipelineContext(redis, config, logger);
  let adapter: Awaited<ReturnType<typeof startLarkAdapter>> | undefined;
  let stopping = false;
  const readiness = new Readiness()
    .add('redis', redisCheck(redis))
    .add('platform', () => !stopping && adapter?.connected === true);
  const registry = createMetricsRegistry([pipeline.queues.ingestQueue('lark'), pipeline.queues.repliesQueue('lark')]);
  const ops = await startOpsServerOrWarn({ registry, readiness, metricsToken: config.METRICS_TOKEN }, config, logger);
  // Registered before the start, which may wait for an unreachable platform: a SIGTERM then ends the wait cleanly.
  const starting = new AbortController();
  onShutdownSignal(logger, async () => {
    stopping = true;
    starting.abort();
    await adapter?.close();
    await pipeline.queues.close();
    await redis.quit();
    await ops?.close();
  });
  try {
    adapter = await startLarkAdapter(pipeline, { settings, eventsConnection: events, signal: starting.signal });
  } catch (error) {
    if (starting.signal.aborted) return; // shutting down during start-up
    if (!isLarkStartError(error)) throw error;
    logger.error(`adapter lark: ${error.message}`);
    await pipeline.queues.close();
    await ops?.close();
    events.disconnect();
    redis.disconnect();
    process.exitCode = 1;
    return;
  }
  const started = adapter;
  logger.info(
    { botOpenId: started.botOpenId, mode: settings.mode, webhook: started.webhookUrl, connected: started.connected },
    started.connected ? 'lark adapter connected' : 'lark adapter started: the long connection is still being retried',
  );
}
