import type { Redis } from 'ioredis';
import { z } from 'zod';

const modelInfoSchema = z.object({ modelId: z.string(), demo: z.boolean(), at: z.string() });
/** What model the workers run, as adapters show it (the web page's demo banner). */
export type ModelInfo = z.infer<typeof modelInfoSchema>;

/** Workers announce their model under `model-info`; adapters read it (they never load the model themselves). */
export class ModelInfoStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Records the model a worker runs. */
  async announce(modelId: string, demo: boolean): Promise<void> {
    const info: ModelInfo = { modelId, demo, at: new Date().toISOString() };
    await this.redis.set(`${this.prefix}:model-info`, JSON.stringify(info));
  }

  /** The last announced model, or `undefined` when no worker has started yet. */
  async read(): Promise<ModelInfo | undefined> {
    const raw = await this.redis.get(`${this.prefix}:model-info`);
    if (raw === null) return undefined;
    const parsed = modelInfoSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  }
}
