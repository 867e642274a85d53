import { Command } from 'commander';

/**
 * `ziya-visual-bot start` (what `npm start` runs): everything in one process — a private redis-server when
 * REDIS_URL is unset, the demo model when MODEL_DIR is unset, ingest, a model worker, delivery and the web chat.
 */
export const command = new Command('start')
  .description('run everything in one process with the local web chat (private Redis and a demo model when unset)')
  .action(async () => {
    const { loadConfigOrExit } = await import('../../src/config/load-config-or-exit.ts');
    const { createLogger } = await import('../../src/observability/logger.ts');
    const { createRedisConnection } = await import('../../src/redis/redis-connection.ts');
    const { startPrivateRedisServer } = await import('../../src/redis/private-redis-server.ts');
    const { createPipelineContext } = await import('../../src/pipeline/pipeline-context.ts');
    const { onShutdownSignal } = await import('../../src/pipeline/on-shutdown-signal.ts');
    const { loadChatModel } = await import('../../workers/process/load-chat-model.ts');
    const { startModelWorker } = await import('../../workers/model-worker.ts');
    const { startWebAdapter } = await import('../../adapters/web/web-adapter.ts');
    const { closeWorkerWithin } = await import('../../src/pipeline/close-worker-within.ts');
    const config = loadConfigOrExit();
    // Refused before anything starts: an open web chat on a reachable address.
    const { assertWebAccessConfigured } = await import('../../adapters/web/web-access.ts');
    assertWebAccessConfigured(config.WEB_HOST, config.WEB_ACCESS_TOKEN, config.WEB_PUBLIC);
    const logger = createLogger(config.LOG_LEVEL, 'start');
    const { requireWebGpuAdapterOrExit } = await import('../../workers/process/require-webgpu-adapter.ts');
    await requireWebGpuAdapterOrExit(config.EXECUTION_PROVIDER, logger);
    // The signal handler goes in first, so a SIGTERM during start-up still shuts down cleanly: whatever has started
    // so far is closed, in reverse order of starting.
    const closers: Array<() => Promise<unknown>> = [];
    onShutdownSignal(
      logger,
      async () => {
        for (const close of closers.reverse()) await close();
      },
      config.SHUTDOWN_GRACE_MS + 15_000,
    );
    if (config.REDIS_URL !== undefined) {
      const { waitForRedis } = await import('../../src/redis/wait-for-redis.ts');
      await waitForRedis(config.REDIS_URL, config.REDIS_WAIT_MS, logger);
    }
    // The pid file lets the next start stop a redis-server left behind by a SIGKILLed start.
    const { privateRedisPidDirectory } = await import('../../workers/chat/model-directory-cache.ts');
    const privateRedis =
      config.REDIS_URL === undefined
        ? await startPrivateRedisServer({ pidDirectory: privateRedisPidDirectory(config.CACHE_DIR) })
        : undefined;
    if (privateRedis !== undefined) {
      closers.push(() => privateRedis.stop());
      logger.info({ url: privateRedis.url }, 'REDIS_URL unset: started a private redis-server');
    }
    const redisUrl = config.REDIS_URL ?? privateRedis?.url ?? '';
    const redis = createRedisConnection(redisUrl);
    const pipeline = createPipelineContext(redis, config, logger);
    closers.push(
      () => redis.quit(),
      () => pipeline.queues.close(),
    );
    const model = await loadChatModel(config, pipeline.embeddings, logger);
    closers.push(() => model.close());
    if (model.demo && (config.DISCORD_TOKEN !== undefined || config.LARK_APP_ID !== undefined)) {
      logger.warn(
        { modelId: model.modelId },
        'DEMO MODEL ON A REAL PLATFORM: the model has random weights (MODEL_DIR unset: the tiny demo model), so Discord/Lark users get nonsense, each answer with the demo notice. Build the real Ziya model (README "Using the real Ziya model") and set MODEL_DIR',
      );
    }
    const worker = startModelWorker(pipeline, model, { turnMax: config.DRAIN_TURN_MAX });
    closers.push(() => closeWorkerWithin(worker, config.SHUTDOWN_GRACE_MS, logger));
    const { startLarkInBackground } = await import('../../adapters/lark/run-lark-adapter.ts');
    let lark: ReturnType<typeof startLarkInBackground> | undefined;
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
      // A Lark adapter that should be connected and is not makes the process not ready.
      readinessChecks: {
        model: () => worker.isRunning(),
        ...(config.LARK_APP_ID === undefined ? {} : { lark: () => lark?.ready ?? false }),
      },
    });
    closers.push(() => web.close());
    const { startDiscordFromConfig } = await import('../../adapters/discord/run-discord-adapter.ts');
    if (config.DISCORD_TOKEN === undefined) logger.info('DISCORD_TOKEN unset: the Discord adapter is not started');
    else {
      const discord = await startDiscordFromConfig(pipeline, config, createRedisConnection(redisUrl), logger);
      if (discord !== undefined) closers.push(() => discord.close());
    }
    // Not awaited: an unreachable Lark is retried in the background while the web chat serves.
    const larkAdapter = startLarkInBackground(pipeline, config, createRedisConnection(redisUrl), logger);
    lark = larkAdapter;
    closers.push(() => larkAdapter.close());
    logger.info({ url: web.url, modelId: model.modelId, demo: model.demo }, `web chat ready at ${web.url}`);
  });
