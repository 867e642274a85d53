import { readdirSync } from 'node:fs';
import { PytorchCheckpointSource } from './pytorch-checkpoint-source.ts';
import { SafetensorsWeightSource } from './safetensors-source.ts';
import type { WeightSource } from './weight-source.ts';

/** A checkpoint directory holds no weight file we can read. */
export class NoCheckpointError extends Error {
  override readonly name = 'NoCheckpointError';
  constructor(readonly directory: string) {
    super(
      `${directory}: no *.safetensors (or model.safetensors.index.json), pytorch_model.bin or ` +
        'pytorch_model.bin.index.json with the weights',
    );
  }
}

/**
 * Opens the weights of a Hugging Face checkpoint directory: safetensors files when there are any, else PyTorch's
 * `pytorch_model.bin` (or its sharded index), read in place without conversion.
 */
export function openCheckpoint(directory: string): WeightSource {
  if (readdirSync(directory).some((file) => file.endsWith('.safetensors'))) {
    return new SafetensorsWeightSource(directory);
  }
  const pytorchPath = PytorchCheckpointSource.pathIn(directory);
  if (pytorchPath !== undefined) return new PytorchCheckpointSource(pytorchPath);
  throw new NoCheckpointError(directory);
}
