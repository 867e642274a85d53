import type { EmbeddingCache } from '../../src/model/chat-model.ts';

/** Options of {@link MemoryEmbeddingCache}. */
export interface MemoryEmbeddingCacheOptions {
  /**
   * Pictures kept; the least recently used goes first. A full-size Ziya embedding is 32 × 5120 floats (640 KiB).
   * @defaultValue 64
   */
  maxEntries?: number;
}

/** An in-process {@link EmbeddingCache} (least recently used first out), for the CLI and tests; the pipeline uses Redis. */
export class MemoryEmbeddingCache implements EmbeddingCache {
  private readonly entries = new Map<string, Float32Array>();
  private readonly maxEntries: number;
  /** Lookups answered from the cache, and those that were not. */
  hits = 0;
  misses = 0;

  constructor(options: MemoryEmbeddingCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 64;
  }

  /** A copy of the cached vectors, so a caller that writes into them cannot change the cache. */
  async get(modelId: string, sha256: string): Promise<Float32Array | undefined> {
    const key = `${modelId}:${sha256}`;
    const embedding = this.entries.get(key);
    if (embedding === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(key);
    this.entries.set(key, embedding);
    return embedding.slice();
  }

  /** Stores a copy of the vectors. */
  async set(modelId: string, sha256: string, embedding: Float32Array): Promise<void> {
    const key = `${modelId}:${sha256}`;
    this.entries.delete(key);
    this.entries.set(key, embedding.slice());
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  /** Pictures currently cached. */
  get size(): number {
    return this.entries.size;
  }
}
