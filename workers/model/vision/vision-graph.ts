import { writeFileSync } from 'node:fs';
import type { ModelDtype, VisionConfig } from '../config.ts';
import { ExternalDataWriter, GraphBuilder } from '../onnx/graph-builder.ts';
import type { BuildProgress } from '../progress.ts';
import { toFloat16 } from '../quantize/float16.ts';
import {
  blip2GlobalTensorNames,
  blip2WeightSpecs,
  hasCrossAttention,
  imageTokenCount,
  qformerAttentionTensorNames,
  qformerFeedForwardTensorNames,
  visionLayerTensorNames,
} from '../weights/blip2-weight-specs.ts';
import { type FloatTensor, MissingTensorError, type WeightSource } from '../weights/weight-source.ts';

/** Name of the vision graph's input: normalized pixels, float32 `[batch, 3, imageSize, imageSize]`. */
export const visionInputName = 'pixel_values';

/** Name of the vision graph's output: projected query vectors, float32 `[batch, numQueries, projectionSize]`. */
export const visionOutputName = 'image_embeddings';

/** Progress of a vision graph build: layers written so far out of all layers (vision + Q-Former). */
export interface VisionBuildProgress {
  stage: 'vision' | 'qformer' | 'done';
  layersDone: number;
  layersTotal: number;
  bytesWritten: number;
}

/** Options of `buildVisionGraph`. */
export interface VisionGraphOptions {
  /** Path of the `.onnx` file to write; initializers go to `<out>.data` next to it. */
  out: string;
  config: VisionConfig;
  weights: WeightSource;
  /**
   * Weight storage. `fp16` stores weights in half precision and computes in half precision, with Casts on the
   * float32 input and output; `int4` only affects the decoder, so the vision graph stays `fp32`.
   */
  dtype: ModelDtype;
  onProgress?: (progress: VisionBuildProgress) => void;
  /** The model build's shared progress: counts each tensor read and the bytes written (stage `vision`). */
  progress?: BuildProgress;
}

/** Number of source tensors and parameters the vision graph reads, for `BuildProgress.expect`. */
export function visionTensorCount(config: VisionConfig): { tensors: number; parameters: number } {
  let tensors = 0;
  let parameters = 0;
  for (const spec of blip2WeightSpecs(config).values()) {
    tensors++;
    parameters += spec.dims.reduce((product, size) => product * size, 1);
  }
  return { tensors, parameters };
}

/** What `buildVisionGraph` wrote. */
export interface VisionGraphResult {
  graphPath: string;
  dataPath: string;
  /** Bytes of external initializer data. */
  dataBytes: number;
}

/** Element type of the arithmetic inside the graph. */
type ComputeType = 'float32' | 'float16';

/**
 * Writes the BLIP-2 vision tower, Q-Former and language projection as one graph: `pixel_values` → `image_embeddings`
 * (the 32 projected query vectors placed before the text embeddings). Standard opset-17 ops only, so it runs on the
 * CPU and CUDA execution providers alike.
 */
export function buildVisionGraph(options: VisionGraphOptions): VisionGraphResult {
  const { out } = options;
  const dataPath = `${out}.data`;
  const computeType: ComputeType = options.dtype === 'fp16' ? 'float16' : 'float32';
  const dataWriter = options.progress ? options.progress.dataWriter(dataPath) : new ExternalDataWriter(dataPath);
  options.progress?.begin('vision');
  try {
    const writer = new VisionGraphWriter(new GraphBuilder('ziya-visual-vision', dataWriter), options, computeType);
    writer.build((stage, layersDone, layersTotal) =>
      options.onProgress?.({ stage, layersDone, layersTotal, bytesWritten: dataWriter.bytesWritten }),
    );
    writeFileSync(out, writer.graph.encode());
    return { graphPath: out, dataPath, dataBytes: dataWriter.bytesWritten };
  } finally {
    dataWriter.close();
  }
}

/** Emits the nodes; one method per BLIP-2 module, so each can be read next to its Hugging Face definition. */
class VisionGraphWriter {
  private readonly config: VisionConfig;
  private readonly weights: WeightSource;
  private readonly progress: BuildProgress | undefined;
  private batchDimension = '';
  private readonly scalars = new Map<number, string>();

  constructor(
    readonly graph: GraphBuilder,
    options: VisionGraphOptions,
    private readonly computeType: ComputeType,
  ) {
    this.config = options.config;
    this.weights = options.weights;
    this.progress = options.progress;
  }

  build(progress: (stage: VisionBuildProgress['stage'], done: number, total: number) => void): void {
    const { config, graph } = this;
    const total = config.numLayers + config.qformer.numLayers;
    const pixels = graph.input(visionInputName, 'float32', ['batch', 3, config.imageSize, config.imageSize]);
    this.batchDimension = graph.op('Shape', [pixels], { start: 0, end: 1 });
    let hidden = this.visionEmbeddings(this.toCompute(pixels));
    for (let layer = 0; layer < config.numLayers; layer++) {
      hidden = this.visionLayer(hidden, layer);
      progress('vision', layer + 1, total);
    }
    const names = blip2GlobalTensorNames;
    const imageEmbeds = this.layerNorm(hidden, names.postNormWeight, names.postNormBias, config.layerNormEps);
    let queries = this.expandToBatch(names.queryTokens, [1, config.qformer.numQueries, config.qformer.hiddenSize]);
    queries = this.layerNorm(queries, names.qformerNormWeight, names.qformerNormBias, config.qformer.layerNormEps);
    for (let layer = 0; layer < config.qformer.numLayers; layer++) {
      queries = this.qformerLayer(queries, imageEmbeds, layer);
      progress('qformer', config.numLayers + layer + 1, total);
    }
    const projected = this.linear(
      queries,
      names.projectionWeight,
      names.projectionBias,
      config.projectionSize,
      config.qformer.hiddenSize,
    );
    const output = this.toFloat32(projected);
    graph.output(output, 'float32', ['batch', config.qformer.numQueries, config.projectionSize]);
    progress('done', total, total);
  }

  /** `Blip2VisionEmbeddings`: patch Conv2d, class token in front, learned position embedding added. */
  private visionEmbeddings(pixels: string): string {
    const { config, graph } = this;
    const names = blip2GlobalTensorNames;
    const hiddenSize = config.hiddenSize;
    const patchWeight = this.tensor(names.patchWeight, [hiddenSize, 3, config.patchSize, config.patchSize]);
    const patchBias = this.tensor(names.patchBias, [hiddenSize]);
    const patches = graph.op(
      'Conv',
      [pixels, this.store(names.patchWeight, patchWeight), this.store(names.patchBias, patchBias)],
      {
        kernel_shape: [config.patchSize, config.patchSize],
        strides: [config.patchSize, config.patchSize],
      },
    );
    const flattened = graph.op('Reshape', [patches, graph.constant('int64', [3], [0, hiddenSize, -1])]);
    const patchTokens = graph.op('Transpose', [flattened], { perm: [0, 2, 1] });
    const classToken = this.expandToBatch(names.classEmbedding, [1, 1, hiddenSize]);
    const tokens = graph.op('Concat', [classToken, patchTokens], { axis: 1 });
    const position = this.weightInput(names.positionEmbedding, [1, imageTokenCount(config), hiddenSize]);
    return graph.op('Add', [tokens, position]);
  }

  /** `Blip2EncoderLayer`: pre-LN self-attention and MLP, each with a residual. */
  private visionLayer(hidden: string, layer: number): string {
    const { config, graph } = this;
    const names = visionLayerTensorNames(layer);
    const hiddenSize = config.hiddenSize;
    const normed = this.layerNorm(hidden, names.norm1Weight, names.norm1Bias, config.layerNormEps);
    // `Blip2Attention`: one qkv Linear without bias, plus q_bias, a zero k bias and v_bias concatenated.
    const qkvBias = new Float32Array(3 * hiddenSize);
    qkvBias.set(this.tensor(names.queryBias, [hiddenSize]).data, 0);
    qkvBias.set(this.tensor(names.valueBias, [hiddenSize]).data, 2 * hiddenSize);
    const qkv = this.linearWith(
      normed,
      names.qkvWeight,
      `${names.qkvWeight}.bias`,
      qkvBias,
      3 * hiddenSize,
      hiddenSize,
    );
    const [query, key, value] = graph.node('Split', [qkv], { outputs: 3, attributes: { axis: 2 } });
    const context = this.attention(query!, key!, value!, config.numHeads, hiddenSize);
    const attended = this.linear(context, names.projectionWeight, names.projectionBias, hiddenSize, hiddenSize);
    const afterAttention = graph.op('Add', [hidden, attended]);
    const normed2 = this.layerNorm(afterAttention, names.norm2Weight, names.norm2Bias, config.layerNormEps);
    const up = this.linear(normed2, names.fc1Weight, names.fc1Bias, config.intermediateSize, hiddenSize);
    const down = this.linear(this.gelu(up), names.fc2Weight, names.fc2Bias, hiddenSize, config.intermediateSize);
    return graph.op('Add', [afterAttention, down]);
  }

  /** `Blip2QFormerLayer` on query tokens only: self-attention, cross-attention on some layers, the `_query` FFN. */
  private qformerLayer(queries: string, imageEmbeds: string, layer: number): string {
    const { config, graph } = this;
    const query = config.qformer;
    let hidden = this.qformerAttention(queries, queries, query.hiddenSize, layer, 'attention');
    if (hasCrossAttention(config, layer)) {
      hidden = this.qformerAttention(hidden, imageEmbeds, config.hiddenSize, layer, 'crossattention');
    }
    const names = qformerFeedForwardTensorNames(layer);
    const up = this.linear(
      hidden,
      names.intermediateWeight,
      names.intermediateBias,
      query.intermediateSize,
      query.hiddenSize,
    );
    const down = this.linear(
      this.gelu(up),
      names.outputWeight,
      names.outputBias,
      query.hiddenSize,
      query.intermediateSize,
    );
    const residual = graph.op('Add', [down, hidden]);
    return this.layerNorm(residual, names.normWeight, names.normBias, query.layerNormEps);
  }

  /** `Blip2QFormerAttention`: BERT self-output (dense, residual, post-LayerNorm) around biased q/k/v attention. */
  private qformerAttention(
    hidden: string,
    keyValueSource: string,
    keyValueWidth: number,
    layer: number,
    kind: 'attention' | 'crossattention',
  ): string {
    const query = this.config.qformer;
    const names = qformerAttentionTensorNames(layer, kind);
    const width = query.hiddenSize;
    const queries = this.linear(hidden, names.queryWeight, names.queryBias, width, width);
    const keys = this.linear(keyValueSource, names.keyWeight, names.keyBias, width, keyValueWidth);
    const values = this.linear(keyValueSource, names.valueWeight, names.valueBias, width, keyValueWidth);
    const context = this.attention(queries, keys, values, query.numHeads, width);
    const output = this.linear(context, names.outputWeight, names.outputBias, width, width);
    const residual = this.graph.op('Add', [output, hidden]);
    return this.layerNorm(residual, names.normWeight, names.normBias, query.layerNormEps);
  }

  /** Scaled dot-product attention over `[batch, tokens, width]` tensors split into heads; no mask (all tokens seen). */
  private attention(query: string, key: string, value: string, numHeads: number, width: number): string {
    const { graph } = this;
    const headSize = width / numHeads;
    const headShape = graph.constant('int64', [4], [0, 0, numHeads, headSize]);
    const split = (input: string, perm: number[]) =>
      graph.op('Transpose', [graph.op('Reshape', [input, headShape])], { perm });
    const scaledQuery = graph.op('Mul', [split(query, [0, 2, 1, 3]), this.scalar(1 / Math.sqrt(headSize))]);
    const scores = graph.op('MatMul', [scaledQuery, split(key, [0, 2, 3, 1])]);
    const probabilities = graph.op('Softmax', [scores], { axis: -1 });
    const context = graph.op('MatMul', [probabilities, split(value, [0, 2, 1, 3])]);
    const merged = graph.op('Transpose', [context], { perm: [0, 2, 1, 3] });
    return graph.op('Reshape', [merged, graph.constant('int64', [3], [0, 0, width])]);
  }

  /** Exact GELU, `0.5·x·(1 + erf(x/√2))` (onnxruntime fuses it into one Gelu kernel). */
  private gelu(input: string): string {
    const { graph } = this;
    const erf = graph.op('Erf', [graph.op('Mul', [input, this.scalar(Math.SQRT1_2)])]);
    const onePlus = graph.op('Add', [erf, this.scalar(1)]);
    return graph.op('Mul', [graph.op('Mul', [input, this.scalar(0.5)]), onePlus]);
  }

  private layerNorm(input: string, weightName: string, biasName: string, epsilon: number): string {
    const width = this.widthOf(weightName);
    const weight = this.weightInput(weightName, [width]);
    const bias = this.weightInput(biasName, [width]);
    return this.graph.op('LayerNormalization', [input, weight, bias], { axis: -1, epsilon: { float: epsilon } });
  }

  /** A PyTorch `Linear` (`[out, in]` weight): stored transposed as `[in, out]` for MatMul, then the bias added. */
  private linear(input: string, weightName: string, biasName: string, outFeatures: number, inFeatures: number): string {
    const bias = this.tensor(biasName, [outFeatures]).data;
    return this.linearWith(input, weightName, biasName, bias, outFeatures, inFeatures);
  }

  private linearWith(
    input: string,
    weightName: string,
    biasName: string,
    bias: Float32Array,
    outFeatures: number,
    inFeatures: number,
  ): string {
    const weight = this.tensor(weightName, [outFeatures, inFeatures]).data;
    const transposed = new Float32Array(weight.length);
    for (let row = 0; row < outFeatures; row++) {
      for (let column = 0; column < inFeatures; column++) {
        transposed[column * outFeatures + row] = weight[row * inFeatures + column] ?? 0;
      }
    }
    const weightInput = this.store(weightName, { dims: [inFeatures, outFeatures], data: transposed });
    const product = this.graph.op('MatMul', [input, weightInput]);
    return this.graph.op('Add', [product, this.store(biasName, { dims: [outFeatures], data: bias })]);
  }

  /** A learned tensor `[1, …]` broadcast along the batch dimension of the input. */
  private expandToBatch(name: string, dims: readonly number[]): string {
    const { graph } = this;
    const shape = graph.op('Concat', [this.batchDimension, graph.constant('int64', [dims.length - 1], dims.slice(1))], {
      axis: 0,
    });
    return graph.op('Expand', [this.weightInput(name, dims), shape]);
  }

  private weightInput(name: string, dims: readonly number[]): string {
    return this.store(name, this.tensor(name, dims));
  }

  /** Reads a tensor and checks its shape, so a wrong checkpoint fails with the tensor's name. */
  private tensor(name: string, dims: readonly number[]): FloatTensor {
    const tensor = this.weights.get(name);
    // Leading 1s may differ (`class_embedding` saved as [1, 1, H] or [H]); any other difference is an error, since a
    // transposed [in, out] weight has the right size but the wrong shape.
    const withoutLeadingOnes = (shape: readonly number[]) => shape.slice(shape.findIndex((size) => size !== 1));
    const stored = withoutLeadingOnes(tensor.dims);
    const expected = withoutLeadingOnes(dims);
    const sameShape = stored.length === expected.length && stored.every((size, index) => size === expected[index]);
    if (!sameShape) {
      // Checkpoint sources can name the very file the tensor came from.
      const where = (this.weights as { fileOf?: (tensorName: string) => string | undefined }).fileOf?.(name);
      throw new MissingTensorError(
        name,
        where ?? this.weights.description,
        `has shape [${tensor.dims.join(', ')}], expected [${dims.join(', ')}]`,
      );
    }
    this.progress?.tensorDone(tensor.data.length);
    return { dims, data: tensor.data };
  }

  private widthOf(name: string): number {
    return name.startsWith('vision_model.') ? this.config.hiddenSize : this.config.qformer.hiddenSize;
  }

  /** Adds a weight under its checkpoint name (each is stored once), in the compute precision. */
  private store(name: string, tensor: FloatTensor): string {
    const data = this.computeType === 'float16' ? toFloat16(tensor.data) : tensor.data;
    return this.graph.initializer(name, this.computeType, tensor.dims, data);
  }

  /** A scalar constant in the compute precision, shared by every node that uses the same value. */
  private scalar(value: number): string {
    const existing = this.scalars.get(value);
    if (existing) return existing;
    const name = `scalar_${this.scalars.size}`;
    const data = Float32Array.of(value);
    this.graph.initializer(name, this.computeType, [], this.computeType === 'float16' ? toFloat16(data) : data);
    this.scalars.set(value, name);
    return name;
  }

  private toCompute(input: string): string {
    return this.computeType === 'float32' ? input : this.graph.op('Cast', [input], { to: 10 });
  }

  private toFloat32(input: string): string {
    return this.computeType === 'float32'
      ? this.graph.op('Identity', [input], undefined, { output: visionOutputName })
      : this.graph.op('Cast', [input], { to: 1 }, { output: visionOutputName });
  }
}
