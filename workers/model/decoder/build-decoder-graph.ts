import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { headSize, type ModelDtype, type TextConfig } from '../config.ts';
import { type ElementType, GraphBuilder } from '../onnx/graph-builder.ts';
import type { BuildProgress } from '../progress.ts';
import { toFloat16 } from '../quantize/float16.ts';
import { llamaGlobalTensorNames, llamaLayerTensorNames } from '../weights/llama-weight-specs.ts';
import { MissingTensorError, type WeightSource } from '../weights/weight-source.ts';
import { addAttentionInputs, type PaddingMode } from './attention-inputs.ts';
import { cacheElementType, decoderTakesDecodeStep, decoderTensorNames } from './decoder-contract.ts';
import { addLinear, stackRows } from './linear-projection.ts';
import { rotaryCache } from './rotary-cache.ts';
import { addStepAttention } from './step-attention.ts';

/** What `buildDecoderGraph` needs. */
export interface DecoderGraphOptions {
  config: TextConfig;
  dtype: ModelDtype;
  weights: WeightSource;
  /** Path of `decoder.onnx`; the weights go to `<path>.data`. */
  path: string;
  progress: BuildProgress;
  /** Where padding may sit in `attention_mask`. @defaultValue 'any' */
  padding?: PaddingMode;
}

/** ONNX TensorProto code of float16/float32 for Cast's `to`. */
const castTo = { float32: 1, float16: 10, int32: 6, int64: 7 } as const;

/** Reads a tensor and checks its shape, so a wrong checkpoint fails with the tensor's name, not inside onnxruntime. */
export function readChecked(weights: WeightSource, name: string, dims: readonly number[], progress: BuildProgress) {
  const tensor = weights.get(name);
  if (tensor.dims.length !== dims.length || tensor.dims.some((size, index) => size !== dims[index])) {
    // Checkpoint sources can name the very file the tensor came from.
    const where = (weights as { fileOf?: (tensorName: string) => string | undefined }).fileOf?.(name);
    throw new MissingTensorError(name, where ?? weights.description, `has shape [${tensor.dims}], expected [${dims}]`);
  }
  progress.tensorDone(tensor.data.length);
  return tensor;
}

/** Number of source tensors and parameters the decoder reads (the embedding table excluded). */
export function decoderTensorCount(config: TextConfig): { tensors: number; parameters: number } {
  const keyValueSize = config.numKvHeads * headSize(config);
  const { hiddenSize: hidden, intermediateSize: intermediate } = config;
  const perLayer = hidden * (2 * hidden + 2 * keyValueSize) + 3 * hidden * intermediate + 2 * hidden;
  return {
    tensors: config.numLayers * 9 + 2,
    parameters: config.numLayers * perLayer + hidden + config.vocabSize * hidden,
  };
}

/**
 * Writes `decoder.onnx` (+ `decoder.onnx.data`): the LLaMA layers from input embeddings to logits, with the KV
 * cache in and out.
 *
 * Attention is com.microsoft GroupQueryAttention on a fused QKV projection with its own rotary embedding
 * (rotate-half layout, as in HF checkpoints). GQA itself only understands per-row lengths (`seqlens_k`), which
 * assume the real tokens come first; to honour an arbitrary `attention_mask` (left padding for batched decode) the
 * default graph instead treats every row as full length (`seqlens_k = total - 1`) and masks padding through
 * `attention_bias` (see `PaddingMode`). Rotary positions then count padding too, a per-row constant shift that
 * leaves the rotated dot products, which only depend on position differences, unchanged.
 *
 * float32 right-padded builds also take `decode_step`: each layer's attention is then an `If` between GQA and a decode
 * step that reads the past in place and returns only the new position (step-attention.ts), the weights shared.
 */
export function buildDecoderGraph(options: DecoderGraphOptions): void {
  const { config, dtype, weights, progress } = options;
  const data = progress.dataWriter(`${options.path}.data`);
  try {
    const graph = new GraphBuilder(basename(options.path, '.onnx'), data);
    const compute: ElementType = cacheElementType(dtype);
    const head = headSize(config);
    if (head % 16 !== 0) throw new Error(`head size ${head} must be a multiple of 16 (GroupQueryAttention)`);
    const { hiddenSize: hidden, intermediateSize: intermediate, numHeads, numKvHeads } = config;
    const keyValueSize = numKvHeads * head;
    const names = decoderTensorNames;

    const embeds = graph.input(names.inputsEmbeds, 'float32', ['batch', 'sequence', hidden]);
    const mask = graph.input(names.attentionMask, 'int64', ['batch', 'total_sequence']);
    for (let layer = 0; layer < config.numLayers; layer++) {
      graph.input(names.pastKey(layer), compute, ['batch', numKvHeads, 'past_sequence', head]);
      graph.input(names.pastValue(layer), compute, ['batch', numKvHeads, 'past_sequence', head]);
    }
    const logitsToKeep = graph.input(names.numLogitsToKeep, 'int64', []);
    // Batched decode steps over a cache the caller keeps (see step-attention.ts): float32 right-padded builds.
    const stepMode = decoderTakesDecodeStep(dtype, options.padding ?? 'any');
    const decodeStep = stepMode ? graph.input(names.decodeStep, 'bool', []) : undefined;

    const hiddenInput = compute === 'float16' ? graph.op('Cast', [embeds], { to: castTo.float16 }) : embeds;

    const attentionInputs = addAttentionInputs(graph, {
      mask,
      embeds,
      compute: compute === 'float16' ? 'float16' : 'float32',
      padding: options.padding ?? 'any',
    });
    const pastLengths = stepMode
      ? graph.op('Unsqueeze', [
          graph.op('Cast', [attentionInputs.seqlensK], { to: castTo.int64 }),
          graph.constant('int64', [1], [1]),
        ])
      : undefined;

    const rotary = rotaryCache(config.maxPositions, head, config.ropeTheta);
    const half = head / 2;
    const cosCache = storeFloat(graph, 'rotary.cos_cache', [config.maxPositions, half], rotary.cos, compute);
    const sinCache = storeFloat(graph, 'rotary.sin_cache', [config.maxPositions, half], rotary.sin, compute);

    const norm = (name: string): string =>
      storeFloat(graph, name, [hidden], readChecked(weights, name, [hidden], progress).data, compute);
    const epsilon = { float: config.rmsNormEps };

    let residual = hiddenInput;
    let pending: string | undefined; // the previous block's output, not yet added to the residual stream
    const normalize = (weightName: string): string => {
      const gamma = norm(weightName);
      if (pending === undefined) {
        return graph.op('SimplifiedLayerNormalization', [residual, gamma], { axis: -1, epsilon, stash_type: 1 });
      }
      const normalized = graph.uniqueName('skip_norm_out');
      const sum = graph.uniqueName('residual');
      // Outputs 1 and 2 (mean, inverse std) are left unnamed so the kernel skips them.
      graph.node('SkipSimplifiedLayerNormalization', [pending, residual, gamma], {
        outputs: [normalized, '', '', sum],
        attributes: { epsilon },
        domain: 'com.microsoft',
      });
      residual = sum;
      return normalized;
    };

    for (let layer = 0; layer < config.numLayers; layer++) {
      const tensorNames = llamaLayerTensorNames(layer);
      const prefix = `layers.${layer}`;
      const attentionInput = normalize(tensorNames.inputNorm);
      const qkv = stackRows([
        readChecked(weights, tensorNames.queryProjection, [hidden, hidden], progress),
        readChecked(weights, tensorNames.keyProjection, [keyValueSize, hidden], progress),
        readChecked(weights, tensorNames.valueProjection, [keyValueSize, hidden], progress),
      ]);
      const packedQkv = addLinear(graph, `${prefix}.attn.qkv_proj`, qkv, dtype)(attentionInput);
      const attentionOutputs = [`${prefix}.attn.output`, names.presentKey(layer), names.presentValue(layer)];
      const groupQueryAttention = (into: GraphBuilder, outputs: string[]) =>
        into.node(
          'GroupQueryAttention',
          [
            packedQkv,
            '',
            '',
            names.pastKey(layer),
            names.pastValue(layer),
            attentionInputs.seqlensK,
            attentionInputs.totalSequenceLength,
            cosCache,
            sinCache,
            ...(attentionInputs.attentionBias === undefined ? [] : ['', attentionInputs.attentionBias]),
          ],
          {
            outputs,
            attributes: { num_heads: numHeads, kv_num_heads: numKvHeads, do_rotary: 1, rotary_interleaved: 0 },
            domain: 'com.microsoft',
            name: `${prefix}.attn.gqa`,
          },
        );
      if (decodeStep === undefined || pastLengths === undefined) {
        groupQueryAttention(graph, attentionOutputs);
      } else {
        // decode_step picks the branch per run: GQA with the whole cache as its present (prompts, device caches),
        // or one position per row over a past that is only read, returning the new key and value as the "present".
        const branch = (name: string, body: (into: GraphBuilder) => string[]) => {
          const into = graph.subgraph(`${prefix}.attn.${name}`);
          for (const output of body(into)) into.output(output, compute);
          return { graph: into.encodeGraph() };
        };
        graph.node('If', [decodeStep], {
          outputs: attentionOutputs,
          attributes: {
            then_branch: branch('step', (into) =>
              addStepAttention(into, {
                packedQkv,
                pastKey: names.pastKey(layer),
                pastValue: names.pastValue(layer),
                pastLengths,
                cosCache,
                sinCache,
                numHeads,
                numKvHeads,
                headSize: head,
              }),
            ),
            else_branch: branch('gqa', (into) =>
              groupQueryAttention(
                into,
                attentionOutputs.map((output) => into.uniqueName(`${output}.gqa`)),
              ),
            ),
          },
          name: `${prefix}.attn.if_step`,
        });
      }
      const attention = attentionOutputs[0];
      const outputProjection = readChecked(weights, tensorNames.outputProjection, [hidden, hidden], progress);
      pending = addLinear(graph, `${prefix}.attn.o_proj`, outputProjection, dtype)(attention!);

      const mlpInput = normalize(tensorNames.postAttentionNorm);
      const gateUp = stackRows([
        readChecked(weights, tensorNames.gateProjection, [intermediate, hidden], progress),
        readChecked(weights, tensorNames.upProjection, [intermediate, hidden], progress),
      ]);
      const fused = addLinear(graph, `${prefix}.mlp.gate_up_proj`, gateUp, dtype)(mlpInput);
      const [gate, up] = graph.node('Split', [fused, graph.constant('int64', [2], [intermediate, intermediate])], {
        outputs: 2,
        attributes: { axis: -1 },
      });
      const activated = graph.op('Mul', [gate!, graph.op('Sigmoid', [gate!])]);
      const product = graph.op('Mul', [activated, up!]);
      const downProjection = readChecked(weights, tensorNames.downProjection, [hidden, intermediate], progress);
      pending = addLinear(graph, `${prefix}.mlp.down_proj`, downProjection, dtype)(product);
    }

    const finalHidden = normalize(llamaGlobalTensorNames.finalNorm);
    // Only the last `num_logits_to_keep` positions reach lm_head, the most expensive matmul of a decode step.
    const start = graph.op('Unsqueeze', [graph.op('Neg', [logitsToKeep]), graph.constant('int64', [1], [0])]);
    const kept = graph.op('Slice', [
      finalHidden,
      start,
      graph.constant('int64', [1], [Number.MAX_SAFE_INTEGER]),
      graph.constant('int64', [1], [1]),
    ]);
    const headWeight = readChecked(
      weights,
      llamaGlobalTensorNames.languageModelHead,
      [config.vocabSize, hidden],
      progress,
    );
    const applyHead = addLinear(graph, 'lm_head', headWeight, dtype);
    if (compute === 'float16') {
      graph.op('Cast', [applyHead(kept)], { to: castTo.float32 }, { output: names.logits });
    } else {
      applyHead(kept, names.logits);
    }

    graph.output(names.logits, 'float32', ['batch', 'logits_to_keep', config.vocabSize]);
    // A decode step's presents hold its new positions only, so their length is not the mask's there.
    const presentShape = ['batch', numKvHeads, stepMode ? 'present_sequence' : 'total_sequence', head];
    for (let layer = 0; layer < config.numLayers; layer++) {
      graph.output(names.presentKey(layer), compute, presentShape);
      graph.output(names.presentValue(layer), compute, presentShape);
    }
    writeFileSync(options.path, graph.encode());
  } finally {
    data.close();
  }
}

function storeFloat(
  graph: GraphBuilder,
  name: string,
  dims: readonly number[],
  values: Float32Array,
  type: ElementType,
): string {
  return type === 'float16'
    ? graph.initializer(name, 'float16', dims, toFloat16(values))
    : graph.initializer(name, 'float32', dims, values);
}
