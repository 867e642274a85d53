import { type PresetName, presets } from '../../workers/model/config.ts';
import { decodeStepTransfer } from '../../workers/runtime/copy-volume.ts';
import { executionProviders } from '../../workers/runtime/onnx-session.ts';

const megabytes = (bytes: number) => (bytes / 1e6).toFixed(bytes < 1e6 ? 3 : 1);

/**
 * Host↔device bytes of one decode step (fp16 cache) for each execution provider, at several batch sizes, for a
 * preset's geometry: computed from the tensor sizes, no weights needed. Positions: each row's cached context;
 * capacity: the fixed device cache on webgpu (the model's context length).
 */
export function formatTransfer(preset: PresetName, positions: number): string[] {
  const text = presets[preset].text;
  const lines = [
    `bytes per decode step, ${preset} (fp16 cache, ${positions} cached positions per row; MB up / down / of which KV cache):`,
  ];
  for (const batch of [1, 8, 32]) {
    const cells = executionProviders.map((provider) => {
      const capacity = provider === 'webgpu' ? text.maxPositions : undefined;
      const bytes = decodeStepTransfer({
        provider,
        text,
        cacheElementBytes: 2,
        batch,
        positions,
        ...(capacity === undefined ? {} : { capacity }),
      });
      return `${provider} ${megabytes(bytes.hostToDevice)} / ${megabytes(bytes.deviceToHost)} / ${megabytes(bytes.cacheBytes)}`;
    });
    lines.push(`  batch ${String(batch).padStart(2)}: ${cells.join('   ')}`);
  }
  return lines;
}
