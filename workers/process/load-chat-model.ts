import type { Config } from '../../src/config/config.ts';
import { t } from '../../src/i18n/catalog.ts';
import type { ChatModel, EmbeddingCache } from '../../src/model/chat-model.ts';
import type { Logger } from '../../src/observability/logger.ts';
import { ensureDemoModel } from '../chat/model-directory-cache.ts';
import { ZiyaChatModel } from '../chat/ziya-chat-model.ts';

/** Loads MODEL_DIR, or (when unset) the demo model, built once under CACHE_DIR, with a plain banner in the log. */
export async function loadChatModel(
  config: Pick<Config, 'MODEL_DIR' | 'CACHE_DIR' | 'EXECUTION_PROVIDER' | 'MODEL_THREADS'>,
  embeddingCache: EmbeddingCache,
  logger: Logger,
): Promise<ChatModel> {
  const directory = config.MODEL_DIR ?? (await ensureDemoModel((line) => logger.info(line), config.CACHE_DIR));
  const model = await ZiyaChatModel.load(directory, {
    executionProvider: config.EXECUTION_PROVIDER,
    embeddingCache,
    ...(config.MODEL_THREADS === undefined ? {} : { threads: config.MODEL_THREADS }),
  });
  logger.info({ modelId: model.modelId, directory, executionProvider: config.EXECUTION_PROVIDER }, 'model loaded');
  if (model.demo) logger.warn(`${t('en', 'demo.banner')} / ${t('zh-CN', 'demo.banner')}`);
  return model;
}
