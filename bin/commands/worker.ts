import { Command } from 'commander';

/** `ziya-visual-bot worker`: one model worker process (one per GPU) on the shared Redis. */
export const command = new Command('worker')
  .description(
    'run a model worker: takes requests from the queue, generates answers, enqueues replies (needs REDIS_URL)',
  )
  .action(async () => {
    const { loadConfigOrExit } = await import('../../src/config/load-config-or-exit.ts');
    const { createLogger } = await import('../../src/observability/logger.ts');
    const { createRedisConnection } = await import('../../src/redis/redis-connection.ts');
    const { createPipelineContext } = await import('../../src/pipeline/pipeline-context.ts');
    const { onShutdownSignal } = await import('../../src/pipeline/on-shutdown-signal.ts');
    const { loadChatModel } = await import('../../workers/process/load-chat-model.ts');
    const { startModelWorker } = await import('../../workers/model-worker.ts');
    const { createMetricsRegistry } = await import('../../src/observability/metrics.ts');
    const { Readiness, ReadyFlag, redisCheck } = await import('../../src/observability/readiness.ts');
    const { startOpsServerOrWarn } = await import('../../src/observability/start-ops-server-or-warn.ts');
    const { closeWorkerWithin } = await import('../../src/pipeline/close-worker-within.ts');
    const config = loadConfigOrExit();
    const logger = createLogger(config.LOG_LEVEL, 'worker');
    // No adapter on webgpu: one line and exit 1, before Redis is even waited for.
    const { requireWebGpuAdapterOrExit } = await import('../../workers/process/require-webgpu-adapter.ts');
    await requireWebGpuAdapterOrExit(config.EXECUTION_PROVIDER, logger);
    const { requireRedisUrl, waitForRedis } = await import('../../src/redis/wait-for-redis.ts');
    const redisUrl = requireRedisUrl(config.REDIS_URL, 'worker');
    await waitForRedis(redisUrl, config.REDIS_WAIT_MS, logger);
    const redis = createRedisConnection(redisUrl);
    const pipeline = createPipelineContext(redis, config, logger);
    // Health and metrics first: /healthz answers while a big model loads, /readyz once it has (and, on a GPU
    // execution provider, once its shaders are warm: loadChatModel runs the graphs once).
    const modelLoaded = new ReadyFlag();
    const readiness = new Readiness().add('redis', redisCheck(redis)).add('model', modelLoaded.check);
    const registry = createMetricsRegistry([pipeline.queues.requests]);
    const ops = await startOpsServerOrWarn({ registry, readiness, metricsToken: config.METRICS_TOKEN }, config, logger);
    const model = await loadChatModel(config, pipeline.embeddings, logger);
    modelLoaded.set();
    const worker = startModelWorker(pipeline, model, { turnMax: config.DRAIN_TURN_MAX });
    logger.info({ pid: process.pid, batchSize: model.batchSize }, 'model worker started');
    onShutdownSignal(
      logger,
      async () => {
        modelLoaded.set(false);
        await closeWorkerWithin(worker, config.SHUTDOWN_GRACE_MS, logger);
        await model.close();
        await pipeline.queues.close();
        await redis.quit();
        await ops?.close();
      },
      config.SHUTDOWN_GRACE_MS + 15_000,
    );
  });
