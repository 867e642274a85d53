import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { ModelDtype, TextConfig } from '../config.ts';
import { GraphBuilder } from '../onnx/graph-builder.ts';
import type { BuildProgress } from '../progress.ts';
import { toFloat16 } from '../quantize/float16.ts';
import { llamaGlobalTensorNames } from '../weights/llama-weight-specs.ts';
import type { WeightSource } from '../weights/weight-source.ts';
import { readChecked } from './build-decoder-graph.ts';
import { embedTensorNames } from './decoder-contract.ts';

/** What `buildEmbedGraph` needs. */
export interface EmbedGraphOptions {
  config: TextConfig;
  dtype: ModelDtype;
  weights: WeightSource;
  /** Path of `embed.onnx`; the table goes to `<path>.data`. */
  path: string;
  progress: BuildProgress;
}

/**
 * Writes `embed.onnx`: token ids → float32 embeddings, a Gather on `model.embed_tokens.weight`. The table stays
 * float32 for fp32 and int4 models (a lookup gains nothing from quantization); fp16 and int4-fp16 models store it in
 * half precision and widen the gathered rows, so the output is float32 whatever the dtype.
 */
export function buildEmbedGraph(options: EmbedGraphOptions): void {
  const { config, dtype, weights, progress } = options;
  const data = progress.dataWriter(`${options.path}.data`);
  try {
    const graph = new GraphBuilder(basename(options.path, '.onnx'), data);
    const inputIds = graph.input(embedTensorNames.inputIds, 'int64', ['batch', 'sequence']);
    const name = llamaGlobalTensorNames.embedding;
    const table = readChecked(weights, name, [config.vocabSize, config.hiddenSize], progress);
    if (dtype === 'fp16' || dtype === 'int4-fp16') {
      const half = graph.initializer(name, 'float16', table.dims, toFloat16(table.data));
      const gathered = graph.op('Gather', [half, inputIds], { axis: 0 });
      graph.op('Cast', [gathered], { to: 1 }, { output: embedTensorNames.inputsEmbeds });
    } else {
      const full = graph.initializer(name, 'float32', table.dims, table.data);
      graph.op('Gather', [full, inputIds], { axis: 0 }, { output: embedTensorNames.inputsEmbeds });
    }
    graph.output(embedTensorNames.inputsEmbeds, 'float32', ['batch', 'sequence', config.hiddenSize]);
    writeFileSync(options.path, graph.encode());
  } finally {
    data.close();
  }
}
