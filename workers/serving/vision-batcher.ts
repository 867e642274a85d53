import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';

/** What the batcher needs from the vision tower. */
export interface BatchVisionEncoder {
  encodeBatch(images: readonly Float32Array[]): Promise<Float32Array[]>;
}

interface PendingImage {
  pixels: Float32Array;
  signal: AbortSignal | undefined;
  resolve: (embeddings: Float32Array) => void;
  reject: (error: unknown) => void;
}

/**
 * Runs the images that arrive together through the vision tower as one batch: the first image waits `windowMs` for
 * others (the requests a worker took together finish preprocessing within a few milliseconds of each other), and
 * images arriving while a batch runs form the next one. At most `maxBatch` images per run.
 */
export class VisionBatcher {
  private pending: PendingImage[] = [];
  private running = false;

  constructor(
    private readonly encoder: BatchVisionEncoder,
    private readonly maxBatch = 8,
    /** Told the size of each batch run (metrics, tests). */
    private readonly onBatch?: (images: number) => void,
    private readonly windowMs = 3,
  ) {}

  /** The projected query vectors of one preprocessed image; an aborted signal rejects before the tower runs it. */
  encode(pixels: Float32Array, signal?: AbortSignal): Promise<Float32Array> {
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      this.pending.push({ pixels, signal, resolve, reject });
      if (!this.running) void this.run();
    });
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      await sleep(this.windowMs);
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, this.maxBatch).filter((image) => {
          if (!image.signal?.aborted) return true;
          image.reject(image.signal.reason);
          return false;
        });
        if (batch.length === 0) continue;
        this.onBatch?.(batch.length);
        try {
          const embeddings = await this.encoder.encodeBatch(batch.map((image) => image.pixels));
          batch.forEach((image, index) => {
            if (image.signal?.aborted) image.reject(image.signal.reason);
            else image.resolve(embeddings[index]!);
          });
        } catch (error) {
          for (const image of batch) image.reject(error);
        }
        await nextTurn();
      }
    } finally {
      this.running = false;
    }
  }
}
