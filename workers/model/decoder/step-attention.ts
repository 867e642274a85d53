import type { GraphBuilder } from '../onnx/graph-builder.ts';

/** What {@link addStepAttention} reads: tensors of the enclosing graph, by name. */
export interface StepAttentionInputs {
  /** The fused projection `[batch, 1, (heads + 2 · kvHeads) · headSize]` of one new position per row. */
  packedQkv: string;
  /** The cache `[batch, kvHeads, width, headSize]`, read where it lies (never copied into a present). */
  pastKey: string;
  pastValue: string;
  /** Cached positions per row, int64 `[batch, 1]`: the new position's index, and its rotary position. */
  pastLengths: string;
  cosCache: string;
  sinCache: string;
  numHeads: number;
  numKvHeads: number;
  headSize: number;
}

/**
 * Attention of one new position per row over a past that is only read, for the decode steps of continuous batching.
 * GroupQueryAttention instead writes a present: the past plus the new position, a copy of the whole cache each step
 * (onnxruntime-node then also copies every output into a new JS buffer). Here the past stays an input that the
 * matmuls read in place, and only the new position's key and value come out, `[batch, kvHeads, 1, headSize]`, for the
 * caller to store at `pastLengths` in its cache.
 *
 * Same arithmetic as GQA's decode: rotate-half rotary at each row's own position, scores scaled by 1/√headSize, the
 * row's cached positions `[0, pastLengths)` plus its new one, softmax, weighted values. Query head `h` reads kv head
 * `h / (heads / kvHeads)`: the query is laid out `[batch, kvHeads, group, headSize]` so each group shares one matmul.
 *
 * @returns the attention output `[batch, 1, heads · headSize]`, the new key and the new value
 */
export function addStepAttention(graph: GraphBuilder, inputs: StepAttentionInputs): [string, string, string] {
  const { numHeads, numKvHeads, headSize } = inputs;
  const group = numHeads / numKvHeads;
  const queryWidth = numHeads * headSize;
  const keyValueWidth = numKvHeads * headSize;
  const ints = (values: number[]) => graph.constant('int64', [values.length], values);

  const [query, key, value] = graph.node(
    'Split',
    [inputs.packedQkv, ints([queryWidth, keyValueWidth, keyValueWidth])],
    { outputs: 3, attributes: { axis: -1 } },
  );
  const rotate = (input: string) =>
    graph.op(
      'RotaryEmbedding',
      [input, inputs.pastLengths, inputs.cosCache, inputs.sinCache],
      { interleaved: 0 },
      {
        domain: 'com.microsoft',
      },
    );
  // One position per row: [batch, 1, heads · size] reshapes straight to heads first.
  const grouped = graph.op('Reshape', [rotate(query!), ints([0, numKvHeads, group, headSize])]);
  const newKey = graph.op('Reshape', [rotate(key!), ints([0, numKvHeads, 1, headSize])]);
  const newValue = graph.op('Reshape', [value!, ints([0, numKvHeads, 1, headSize])]);

  const scale = 1 / Math.sqrt(headSize);
  const pastScores = graph.op(
    'FusedMatMul',
    [grouped, inputs.pastKey],
    { transB: 1, alpha: { float: scale } },
    {
      domain: 'com.microsoft',
    },
  );
  const ownScore = graph.op('Mul', [
    graph.op('ReduceSum', [graph.op('Mul', [grouped, newKey]), ints([-1])], { keepdims: 1 }),
    graph.constant('float32', [], [scale]),
  ]);
  // Cached positions at or past the row's length are other rows' padding (or stale): a bias of -3e38 drops them.
  const widths = graph.op('Slice', [graph.op('Shape', [inputs.pastKey]), ints([2]), ints([3])]);
  const width = graph.op('Squeeze', [widths, ints([0])]);
  const positions = graph.op('Range', [graph.constant('int64', [], [0]), width, graph.constant('int64', [], [1])]);
  const cached = graph.op('Less', [positions, inputs.pastLengths]);
  const bias = graph.op('Where', [
    cached,
    graph.constant('float32', [], [0]),
    graph.constant('float32', [], [-3.0e38]),
  ]);
  const maskedPast = graph.op('Add', [pastScores, graph.op('Unsqueeze', [bias, ints([1, 2])])]);
  const probabilities = graph.op('Softmax', [graph.op('Concat', [maskedPast, ownScore], { axis: -1 })], {
    axis: -1,
  });
  const [pastWeights, ownWeight] = graph.node(
    'Split',
    [probabilities, graph.op('Concat', [widths, ints([1])], { axis: 0 })],
    {
      outputs: 2,
      attributes: { axis: -1 },
    },
  );
  const attended = graph.op('Add', [
    graph.op('MatMul', [pastWeights!, inputs.pastValue]),
    graph.op('Mul', [ownWeight!, newValue]),
  ]);
  const output = graph.op('Reshape', [attended, ints([0, 1, queryWidth])]);
  return [output, newKey, newValue];
}
