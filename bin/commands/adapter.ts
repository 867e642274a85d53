import { Argument, Command } from 'commander';

/** `ziya-visual-bot adapter <web|discord|lark>`: one platform adapter process on the shared Redis. */
export const command = new Command('adapter')
  .description('run a platform adapter: receives messages, ingests images, delivers replies (needs REDIS_URL)')
  .addArgument(new Argument('<platform>', 'the platform').choices(['web', 'discord', 'lark']))
  .action(async (platform: 'web' | 'discord' | 'lark') => {
    const { loadConfigOrExit } = await import('../../src/config/load-config-or-exit.ts');
    const { createLogger } = await import('../../src/observability/logger.ts');
    const config = loadConfigOrExit();
    const logger = createLogger(config.LOG_LEVEL, `adapter-${platform}`);
    const { requireRedisUrl, waitForRedis } = await import('../../src/redis/wait-for-redis.ts');
    const redisUrl = requireRedisUrl(config.REDIS_URL, `adapter ${platform}`);
    await waitForRedis(redisUrl, config.REDIS_WAIT_MS, logger);
    if (platform === 'discord') {
      const { runDiscordAdapterCommand } = await import('./adapter-discord.ts');
      await runDiscordAdapterCommand(config, logger);
      return;
    }
    if (platform === 'lark') {
      const { runLarkAdapterCommand } = await import('./adapter-lark.ts');
      await runLarkAdapterCommand(config, logger);
      return;
    }
    const { createRedisConnection } = await import('../../src/redis/redis-connection.ts');
    const { createPipelineContext } = await import('../../src/pipeline/pipeline-context.ts');
    const { onShutdownSignal } = await import('../../src/pipeline/on-shutdown-signal.ts');
    const { startWebAdapter } = await import('../../adapters/web/web-adapter.ts');
    const redis = createRedisConnection(redisUrl);
    const pipeline = createPipelineContext(redis, config, logger);
    const web = await startWebAdapter(pipeline, {
      port: config.WEB_PORT,
      host: config.WEB_HOST,
      eventsConnection: createRedisConnection(redisUrl),
      metricsToken: config.METRICS_TOKEN,
      adminToken: config.ADMIN_TOKEN,
      adminWrite: config.ADMIN_WRITE,
      publicUrl: config.WEB_PUBLIC_URL,
      accessToken: config.WEB_ACCESS_TOKEN,
      publicChat: config.WEB_PUBLIC,
      trustedUserHeader: config.WEB_TRUSTED_USER_HEADER,
      streamLimits: { total: config.WEB_MAX_STREAMS, perClient: config.WEB_MAX_STREAMS_PER_CLIENT },
    });
    logger.info({ url: web.url, queueDashboard: config.ADMIN_TOKEN !== undefined }, 'web chat adapter listening');
    onShutdownSignal(logger, async () => {
      await web.close();
      await pipeline.queues.close();
      await redis.quit();
    });
  });
