import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { headSize } from '../model/config.ts';
import { ModelDirectoryError, type ModelManifest, readManifest } from '../model/manifest.ts';
import { loadTokenizer } from '../model/tokenizer/text-tokenizer.ts';
import type { DecoderModel, DecoderOutput, DecoderStep, KeyValueTensors } from './decoder-model.ts';
import { DeviceCacheGraphs, releaseCache } from './device-cache-graphs.ts';
import { generate } from './generate.ts';
import type { GenerationTokenizer } from './generation-tokenizer.ts';
import type { GenerationRequest, GenerationResult } from './generation-types.ts';
import { type CacheType, decoderNames, embedNames, validateGraphs } from './model-directory-validation.ts';
import {
  createSession,
  type ExecutionProvider,
  runSession,
  type Session,
  type SessionOptions,
  type Tensor,
  tensor,
} from './onnx-session.ts';
import { checkProviderCompatibility } from './provider-compatibility.ts';

/** How to load a language model. */
export interface LanguageModelOptions {
  executionProvider: ExecutionProvider;
  /** Intra-op threads on CPU. @defaultValue onnxruntime's choice (all cores) */
  threads?: number;
  /** Let idle onnxruntime threads spin-wait (see `SessionOptions.spinning`). @defaultValue false */
  spinning?: boolean;
  /** A tokenizer to use instead of loading `tokenizer.json` (tests, or one already loaded). */
  tokenizer?: GenerationTokenizer;
  /**
   * Positions of the fixed-capacity device cache on `webgpu` (every decoder run then has the same shapes, so shaders
   * compile once). @defaultValue the model's `maxPositions`
   */
  deviceCapacity?: number;
}

/** How the decoder runs on `webgpu`: its cache on the device at a fixed capacity. */
export interface DeviceDecoding {
  /** Positions of every device cache (mask width of every run). */
  capacity: number;
  /** The graphs that make and update device caches. */
  graphs: DeviceCacheGraphs;
}

/** The decoder side of a model directory: the manifest, tokenizer and the embed and decoder sessions. */
export class LanguageModel implements DecoderModel {
  /** Whether presents can be written into the past's buffer (GroupQueryAttention's shared-buffer mode). */
  sharedBufferSupported: boolean | undefined;
  readonly decodeSteps: boolean;
  /** Whether the decoder takes `decode_step` (fed on every run). */
  private readonly takesDecodeStep: boolean;
  private readonly logitsBuffers = new Map<string, Tensor>();
  private static readonly stepFlags = {
    on: tensor('bool', Uint8Array.of(1), []),
    off: tensor('bool', Uint8Array.of(0), []),
  };

  constructor(
    readonly directory: string,
    readonly manifest: ModelManifest,
    readonly tokenizer: GenerationTokenizer,
    private readonly embedSession: Session,
    private readonly decoderSession: Session,
    readonly cacheType: CacheType,
    /** Set on `webgpu`: presents stay on the device and every run is padded to a fixed capacity. */
    readonly device?: DeviceDecoding,
  ) {
    // Pre-allocated device outputs are ignored by onnxruntime-node: the cache is chained, never shared.
    if (device) this.sharedBufferSupported = false;
    // Device caches are chained presents; decode steps are for caches kept in host memory.
    this.takesDecodeStep = decoderSession.inputNames.includes(decoderNames.decodeStep);
    this.decodeSteps = !device && this.takesDecodeStep;
  }

  /** Shape of one layer's cache per sequence position: [kv heads, head size]. */
  get cacheGeometry(): { numLayers: number; numKvHeads: number; headSize: number } {
    const { text } = this.manifest;
    return { numLayers: text.numLayers, numKvHeads: text.numKvHeads, headSize: headSize(text) };
  }

  /** Input embeddings of `ids`, [ids.length, hidden]. */
  async embedTokens(ids: readonly number[]): Promise<Float32Array> {
    if (ids.length === 0) return new Float32Array(0);
    const input = tensor(
      'int64',
      BigInt64Array.from(ids, (id) => BigInt(id)),
      [1, ids.length],
    );
    const outputs = await runSession(
      this.embedSession,
      { [embedNames.inputIds]: input },
      { [embedNames.inputsEmbeds]: null },
    );
    return outputs[embedNames.inputsEmbeds]!.data as Float32Array;
  }

  /** An empty cache tensor set (past length 0) for `batch` sequences. */
  emptyCache(batch: number): KeyValueTensors {
    return this.allocateCache(batch, 0);
  }

  /** Zeroed cache tensors of `length` positions for `batch` sequences. */
  allocateCache(batch: number, length: number): KeyValueTensors {
    const { numLayers, numKvHeads, headSize: size } = this.cacheGeometry;
    const dims = [batch, numKvHeads, length, size];
    const elements = batch * numKvHeads * length * size;
    const make = () =>
      this.cacheType === 'float16'
        ? tensor('float16', new Uint16Array(elements), dims)
        : tensor('float32', new Float32Array(elements), dims);
    return {
      keys: Array.from({ length: numLayers }, make),
      values: Array.from({ length: numLayers }, make),
    };
  }

  /** Runs the decoder once. */
  async runDecoder(step: DecoderStep): Promise<DecoderOutput> {
    if (this.device) return this.runOnDevice(step, this.device);
    return this.run(step);
  }

  /**
   * A run with the cache on the device at a fixed capacity: the mask is widened with zeros to the capacity (GQA
   * reads each row's length from the mask's sum and attends no further) and an empty past becomes a zeroed device
   * cache of the capacity, so presents always come back `[batch, kv, capacity, head]` as `gpu-buffer` tensors.
   */
  private async runOnDevice(step: DecoderStep, device: DeviceDecoding): Promise<DecoderOutput> {
    const { capacity } = device;
    if (step.presentInto) throw new Error('a device cache is chained: presentInto is not supported on webgpu');
    if (step.decodeStep) throw new Error('a device cache is chained: decode steps are not supported on webgpu');
    const total = step.attentionMask.length / step.batch;
    if (total > capacity) throw new RangeError(`${total} positions exceed the device cache's capacity ${capacity}`);
    let attentionMask = step.attentionMask;
    if (total < capacity) {
      attentionMask = new BigInt64Array(step.batch * capacity);
      for (let row = 0; row < step.batch; row++) {
        attentionMask.set(step.attentionMask.subarray(row * total, (row + 1) * total), row * capacity);
      }
    }
    const pastLength = step.past.keys[0]?.dims[2] ?? 0;
    if (pastLength !== 0 && pastLength !== capacity) {
      throw new RangeError(`a device decoder's past holds ${pastLength} positions, not its capacity ${capacity}`);
    }
    const { numLayers, numKvHeads, headSize: size } = this.cacheGeometry;
    const zeros =
      pastLength === 0 ? await device.graphs.zeroCache(numLayers, [step.batch, numKvHeads, capacity, size]) : undefined;
    try {
      // reuseLogits off: whether a pre-allocated host output is honoured next to device outputs is not verified.
      return await this.run({ ...step, attentionMask, past: zeros ?? step.past, reuseLogits: false }, capacity);
    } finally {
      if (zeros) releaseCache(zeros);
    }
  }

  private async run(step: DecoderStep, width?: number): Promise<DecoderOutput> {
    const { hiddenSize } = this.manifest.text;
    const total = width ?? step.attentionMask.length / step.batch;
    const feeds: Record<string, Tensor> = {
      [decoderNames.inputsEmbeds]: tensor('float32', step.inputsEmbeds, [step.batch, step.sequence, hiddenSize]),
      [decoderNames.attentionMask]: tensor('int64', step.attentionMask, [step.batch, total]),
      [decoderNames.numLogitsToKeep]: tensor('int64', BigInt64Array.of(BigInt(step.logitsToKeep)), []),
    };
    if (step.decodeStep && (!this.decodeSteps || step.sequence !== 1 || step.presentInto)) {
      throw new Error('a decode step takes one position per row, no presentInto, and a decoder built for it');
    }
    if (this.takesDecodeStep) {
      feeds[decoderNames.decodeStep] = step.decodeStep ? LanguageModel.stepFlags.on : LanguageModel.stepFlags.off;
    }
    const logitsInto = step.reuseLogits ? this.logitsBuffer(step.batch, step.logitsToKeep) : null;
    const fetches: Record<string, Tensor | null> = { [decoderNames.logits]: logitsInto };
    const layers = this.manifest.text.numLayers;
    for (let layer = 0; layer < layers; layer++) {
      feeds[decoderNames.pastKey(layer)] = step.past.keys[layer]!;
      feeds[decoderNames.pastValue(layer)] = step.past.values[layer]!;
      fetches[decoderNames.presentKey(layer)] = step.presentInto?.keys[layer] ?? null;
      fetches[decoderNames.presentValue(layer)] = step.presentInto?.values[layer] ?? null;
    }
    const outputs = await runSession(this.decoderSession, feeds, fetches);
    const present: KeyValueTensors = { keys: [], values: [] };
    for (let layer = 0; layer < layers; layer++) {
      present.keys.push(step.presentInto?.keys[layer] ?? outputs[decoderNames.presentKey(layer)]!);
      present.values.push(step.presentInto?.values[layer] ?? outputs[decoderNames.presentValue(layer)]!);
    }
    return { logits: (logitsInto ?? outputs[decoderNames.logits]!).data as Float32Array, present };
  }

  private logitsBuffer(batch: number, keep: number): Tensor {
    const key = `${batch}x${keep}`;
    let buffer = this.logitsBuffers.get(key);
    if (!buffer) {
      const vocabulary = this.manifest.text.vocabSize;
      buffer = tensor('float32', new Float32Array(batch * keep * vocabulary), [batch, keep, vocabulary]);
      this.logitsBuffers.set(key, buffer);
    }
    return buffer;
  }

  /** Generates one reply. */
  generate(request: GenerationRequest): Promise<GenerationResult> {
    return generate(this, request);
  }

  /** Releases both sessions. */
  async dispose(): Promise<void> {
    await Promise.all([this.embedSession.release(), this.decoderSession.release(), this.device?.graphs.dispose()]);
  }
}

/** Loads and checks a model directory's `model.json`, `embed.onnx`, `decoder.onnx` and tokenizer. */
export async function loadLanguageModel(directory: string, options: LanguageModelOptions): Promise<LanguageModel> {
  const manifest = readManifest(directory);
  const { files } = manifest;
  for (const file of [files.decoder, files.embed, ...(options.tokenizer ? [] : [files.tokenizer])]) {
    if (!existsSync(join(directory, file))) {
      throw new ModelDirectoryError(directory, file, 'not found (named in model.json; rebuild the model directory)');
    }
  }
  const sessionOptions: SessionOptions = {
    executionProvider: options.executionProvider,
    ...(options.threads === undefined ? {} : { threads: options.threads }),
    ...(options.spinning === undefined ? {} : { spinning: options.spinning }),
  };
  const open = async (file: string, options: SessionOptions) => {
    try {
      return await createSession(join(directory, file), options);
    } catch (error) {
      throw new ModelDirectoryError(directory, file, `onnxruntime cannot load it: ${(error as Error).message}`);
    }
  };
  checkProviderCompatibility(directory, manifest, options.executionProvider);
  const onDevice = options.executionProvider === 'webgpu';
  const presents = Array.from({ length: manifest.text.numLayers }, (_, layer) => [
    decoderNames.presentKey(layer),
    decoderNames.presentValue(layer),
  ]).flat();
  // On webgpu the embedding lookup stays on the CPU: its rows are needed on the host anyway (the embedding memo).
  const [embed, decoder] = await Promise.all([
    open(files.embed, onDevice ? { ...sessionOptions, executionProvider: 'cpu' } : sessionOptions),
    open(files.decoder, onDevice ? { ...sessionOptions, deviceOutputs: presents } : sessionOptions),
  ]);
  let graphs: DeviceCacheGraphs | undefined;
  try {
    const { cacheType } = validateGraphs(directory, manifest, embed, decoder);
    let tokenizer = options.tokenizer;
    if (!tokenizer) {
      try {
        tokenizer = await loadTokenizer(join(directory, files.tokenizer));
      } catch (error) {
        throw new ModelDirectoryError(directory, files.tokenizer, `cannot load it: ${(error as Error).message}`);
      }
    }
    if (onDevice) graphs = await DeviceCacheGraphs.create(cacheType);
    const capacity = options.deviceCapacity ?? manifest.text.maxPositions;
    const device = graphs ? { capacity, graphs } : undefined;
    return new LanguageModel(directory, manifest, tokenizer, embed, decoder, cacheType, device);
  } catch (error) {
    await Promise.all([embed.release(), decoder.release(), graphs?.dispose()]);
    throw error;
  }
}
