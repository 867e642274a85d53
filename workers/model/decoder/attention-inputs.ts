import type { GraphBuilder } from '../onnx/graph-builder.ts';

/**
 * How `attention_mask` reaches GroupQueryAttention.
 * - `any`: padding may sit anywhere (left padding for batched decode). Every row counts as full length and padding
 *   is masked through `attention_bias`. Runs on CPU; the CUDA GQA kernel only accepts `attention_bias` from late
 *   2026 on, and then through its unfused path.
 * - `right`: GQA's native per-row lengths, `seqlens_k = Σ mask - 1`: each row's real tokens must come first (right
 *   padding), and a shorter row's next token is written right after its own last one in the shared cache. The fused
 *   (flash) kernels on CUDA accept this form.
 */
export type PaddingMode = 'any' | 'right';

/** The per-run inputs every GroupQueryAttention node shares. */
export interface AttentionInputs {
  seqlensK: string;
  totalSequenceLength: string;
  /** `[batch, 1, sequence, total_sequence]` additive mask, only in `any` mode. */
  attentionBias: string | undefined;
}

const castTo = { float32: 1, float16: 10, int32: 6 } as const;

/** Adds the nodes deriving GQA's `seqlens_k`, `total_sequence_length` (and `attention_bias`) from the mask. */
export function addAttentionInputs(
  graph: GraphBuilder,
  options: { mask: string; embeds: string; compute: 'float32' | 'float16'; padding: PaddingMode },
): AttentionInputs {
  const { mask, embeds, compute } = options;
  const maskShape = graph.op('Shape', [mask]);
  const slice = (shape: string, index: number) =>
    graph.op('Slice', [shape, graph.constant('int64', [1], [index]), graph.constant('int64', [1], [index + 1])]);
  const totalLength = graph.op('Gather', [maskShape, graph.constant('int64', [], [1])], { axis: 0 });
  const totalSequenceLength = graph.op('Cast', [totalLength], { to: castTo.int32 }, { name: 'total_sequence_length' });
  if (options.padding === 'right') {
    const lengths = graph.op('ReduceSum', [mask, graph.constant('int64', [1], [1])], { keepdims: 0 });
    const lastIndex = graph.op('Sub', [lengths, graph.constant('int64', [], [1])]);
    const seqlensK = graph.op('Cast', [lastIndex], { to: castTo.int32 }, { name: 'seqlens_k' });
    return { seqlensK, totalSequenceLength, attentionBias: undefined };
  }
  const batchSize = slice(maskShape, 0);
  const lastIndex = graph.op('Sub', [totalSequenceLength, graph.constant('int32', [], [1])]);
  const seqlensK = graph.op('Expand', [lastIndex, batchSize], undefined, { name: 'seqlens_k' });
  const biasShape = graph.op(
    'Concat',
    [batchSize, graph.constant('int64', [1], [1]), slice(graph.op('Shape', [embeds]), 1), slice(maskShape, 1)],
    { axis: 0 },
  );
  // Padding gets a large negative bias, finite so that a query row of padding alone still softmaxes without NaN.
  const maskValue = compute === 'float16' ? -1e4 : -3.0e38;
  const padding = graph.op('Sub', [
    graph.constant('float32', [], [1]),
    graph.op('Cast', [mask], { to: castTo.float32 }),
  ]);
  const bias2d = graph.op('Mul', [padding, graph.constant('float32', [], [maskValue])]);
  const bias4d = graph.op('Unsqueeze', [bias2d, graph.constant('int64', [2], [1, 2])]);
  const expanded = graph.op('Expand', [bias4d, biasShape]);
  const attentionBias =
    compute === 'float16'
      ? graph.op('Cast', [expanded], { to: castTo.float16 }, { name: 'attention_bias' })
      : graph.op('Identity', [expanded], undefined, { name: 'attention_bias' });
  return { seqlensK, totalSequenceLength, attentionBias };
}
