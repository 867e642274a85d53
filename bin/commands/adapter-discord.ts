import type { Config } from '../../src/config/config.ts';
import type { Logger } from '../../src/observability/logger.ts';

/**
 * `ziya-visual-bot adapter discord`: the Discord adapter alone on the shared Redis. A missing or refused token is one
 * clear line (never the token) and a non-zero exit.
 */
export async function runDiscordAdapterCommand(config: Config, logger: Logger): Promise<void> {
  const { discordConfigProblem, discordOptionsFromConfig } = await import(
    '../../adapters/discord/run-discord-adapter.ts'
  );
  const problem = discordConfigProblem(config);
  if (problem !== undefined) {
    logger.error(problem);
    process.exitCode = 2;
    return;
  }
  const { createRedisConnection } = await import('../../src/redis/redis-connection.ts');
  const { createPipelineContext } = await import('../../src/pipeline/pipeline-context.ts');
  const { onShutdownSignal } = await import('../../src/pipeline/on-shutdown-signal.ts');
  const { startDiscordAdapter } = await import('../../adapters/discord/discord-adapter.ts');
  const { DiscordConnectError, DiscordTokenError } = await import('../../adapters/discord/transport.ts');
  const redisUrl = config.REDIS_URL ?? '';
  const redis = createRedisConnection(redisUrl);
  const events = createRedisConnection(redisUrl);
  const pipeline = createPipelineContext(redis, config, logger);
  let adapter: Awaited<ReturnType<typeof startDiscordAdapter>>;
  try {
    adapter = await startDiscordAdapter(pipeline, discordOptionsFromConfig(config, events));
  } catch (error) {
    if (!(error instanceof DiscordTokenError || error instanceof DiscordConnectError)) throw error;
    logger.error(error.message);
    await pipeline.queues.close();
    events.disconnect();
    redis.disconnect();
    process.exitCode = 1;
    return;
  }
  logger.info({ botUserId: adapter.botUserId }, 'discord adapter connected');
  const { createMetricsRegistry } = await import('../../src/observability/metrics.ts');
  const { Readiness, redisCheck } = await import('../../src/observability/readiness.ts');
  const { startOpsServerOrWarn } = await import('../../src/observability/start-ops-server-or-warn.ts');
  const readiness = new Readiness().add('redis', redisCheck(redis)).add('discord', () => adapter.client.isReady());
  const registry = createMetricsRegistry([
    pipeline.queues.ingestQueue('discord'),
    pipeline.queues.requests,
    pipeline.queues.repliesQueue('discord'),
  ]);
  const ops = await startOpsServerOrWarn({ registry, readiness, metricsToken: config.METRICS_TOKEN }, config, logger);
  onShutdownSignal(logger, async () => {
    await ops?.close();
    await adapter.close();
    await pipeline.queues.close();
    await redis.quit();
  });
}
