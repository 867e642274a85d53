import type { Config } from '../../src/config/config.ts';
import { t } from '../../src/i18n/catalog.ts';
import type { ChatModel, EmbeddingCache } from '../../src/model/chat-model.ts';
import type { Logger } from '../../src/observability/logger.ts';
import { schedulerMetrics } from '../../src/observability/scheduler-metrics.ts';
import { ensureDemoModel } from '../chat/model-directory-cache.ts';
import { ZiyaChatModel } from '../chat/ziya-chat-model.ts';
import { hostAllocatorAdvice } from '../runtime/host-allocator.ts';

/**
 * Loads MODEL_DIR, or (when unset) the demo model, built once under CACHE_DIR, with a plain banner in the log; its
 * decode scheduler gets WORKER_BATCH_SIZE slots, whose KV-cache size is logged. On a GPU execution provider the model
 * is warmed up ({@link ZiyaChatModel.warmUp}) before it is returned, so a caller's readiness waits for the shaders.
 */
export async function loadChatModel(
  config: Pick<Config, 'MODEL_DIR' | 'CACHE_DIR' | 'EXECUTION_PROVIDER' | 'MODEL_THREADS' | 'WORKER_BATCH_SIZE'>,
  embeddingCache: EmbeddingCache,
  logger: Logger,
): Promise<ChatModel> {
  const directory = config.MODEL_DIR ?? (await ensureDemoModel((line) => logger.info(line), config.CACHE_DIR));
  const model = await ZiyaChatModel.load(directory, {
    executionProvider: config.EXECUTION_PROVIDER,
    embeddingCache,
    batchSize: config.WORKER_BATCH_SIZE,
    observer: schedulerMetrics,
    ...(config.MODEL_THREADS === undefined ? {} : { threads: config.MODEL_THREADS }),
  });
  logger.info({ modelId: model.modelId, directory, executionProvider: config.EXECUTION_PROVIDER }, 'model loaded');
  const { pool } = model.scheduler;
  const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
  logger.info(
    { batchSize: pool.size, kvMiBPerSlot: mib(pool.bytesPerSlot), kvMiBTotal: mib(pool.bytesPerSlot * pool.size) },
    `decode scheduler: ${pool.size} slots, KV cache ${mib(pool.bytesPerSlot)} MiB a slot, ${mib(pool.bytesPerSlot * pool.size)} MiB in all`,
  );
  const allocatorAdvice = hostAllocatorAdvice(config.EXECUTION_PROVIDER);
  if (allocatorAdvice !== undefined) logger.warn(allocatorAdvice);
  if (model.decodeStepAdvice !== undefined) logger.warn(model.decodeStepAdvice);
  if (model.batchLimit !== undefined)
    logger.warn(`WORKER_BATCH_SIZE=${config.WORKER_BATCH_SIZE} lowered to ${pool.size}: ${model.batchLimit}`);
  if (config.EXECUTION_PROVIDER !== 'cpu') {
    // Shaders compile on the first run of each shape: here, not in the first user's answer (readiness waits).
    logger.info(`warming up on ${config.EXECUTION_PROVIDER}: one run of each graph at the serving shapes`);
    const ms = await model.warmUp();
    logger.info({ warmUpMs: Math.round(ms) }, `warm-up done in ${(ms / 1000).toFixed(1)} s: shaders compiled`);
  }
  if (model.demo) logger.warn(`${t('en', 'demo.banner')} / ${t('zh-CN', 'demo.banner')}`);
  return model;
}
