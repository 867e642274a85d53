import { Command, InvalidArgumentError, Option } from 'commander';

function parseSeed(value: string): number {
  const seed = Number(value);
  if (!Number.isSafeInteger(seed)) throw new InvalidArgumentError('the seed must be an integer');
  return seed;
}

function formatSize(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

/** `ziya-visual-bot build-model`: writes a model directory from random weights or a Hugging Face checkpoint. */
export const command = new Command('build-model')
  .description('write a model directory (ONNX graphs, tokenizer, model.json) from random weights or a checkpoint')
  .option('--random <preset>', 'seeded random weights at a size preset: tiny, small or ziya-14b')
  .option(
    '--from <dir|hf:repo>',
    'a Hugging Face LLaMA checkpoint: a directory, or hf:owner/name[@revision] downloaded into the Hub cache',
  )
  .option('--delta-base <dir|hf:repo>', 'the LLaMA that --from is a delta of (Ziya-LLaMA-13B-v1: LLaMA-13B)')
  .option(
    '--vision-from <dir|hf:repo>',
    'the Ziya-BLIP2 vision checkpoint (pytorch_model.bin or safetensors, config.json)',
  )
  .requiredOption('--out <dir>', 'the model directory to write')
  .addOption(
    new Option('--dtype <dtype>', 'weight storage').choices(['fp32', 'fp16', 'int4', 'int4-fp16']).default('fp32'),
  )
  .option('--seed <n>', 'seed of the random weights', parseSeed, 0)
  .addOption(
    new Option('--padding <mode>', 'where attention_mask may hold padding (right: GQA lengths, fused CUDA kernels)')
      .choices(['any', 'right'])
      .default('right'),
  )
  .action(
    async (options: {
      random?: string;
      from?: string;
      deltaBase?: string;
      visionFrom?: string;
      out: string;
      dtype: string;
      seed: number;
      padding: 'any' | 'right';
    }) => {
      // Heavy modules load only when the command runs, so `--help` stays fast.
      const { asBuildModelError, buildModel, BuildModelError } = await import('../model/build-model.ts');
      const { formatProgress, throttleProgress } = await import('../model/progress.ts');
      const print = throttleProgress((event) => process.stderr.write(`${formatProgress(event)}\n`), 400);
      try {
        // hf: arguments become snapshot directories in the Hub cache (HF_HUB_CACHE, HF_TOKEN, HF_ENDPOINT).
        const { fetchCheckpoints } = await import('../model/hub/fetch-checkpoints.ts');
        const { formatDownloadProgress, throttleDownloadProgress } = await import('../model/hub/download-progress.ts');
        const checkpoints = await fetchCheckpoints(options, {
          onProgress: throttleDownloadProgress((event) => process.stderr.write(`${formatDownloadProgress(event)}\n`)),
        });
        const result = buildModel({
          out: options.out,
          dtype: options.dtype as 'fp32',
          padding: options.padding,
          ...(options.random !== undefined ? { preset: options.random as 'tiny', seed: options.seed } : {}),
          ...(checkpoints.from !== undefined ? { from: checkpoints.from } : {}),
          ...(checkpoints.deltaBase !== undefined ? { deltaBase: checkpoints.deltaBase } : {}),
          ...(checkpoints.visionFrom !== undefined ? { visionFrom: checkpoints.visionFrom } : {}),
          onProgress: print,
        });
        if (result.manifest.textOnly) {
          process.stderr.write(
            'text-only model (no --vision-from, and --from has no BLIP-2 config.json): no vision.onnx; ' +
              'start, worker and ask will refuse images\n',
          );
        }
        const total = result.files.reduce((sum, file) => sum + file.bytes, 0);
        process.stderr.write(
          `wrote ${result.directory} (${result.manifest.modelId}) in ${result.seconds.toFixed(1)}s, ${formatSize(total)}:\n` +
            result.files.map((file) => `  ${file.name}  ${formatSize(file.bytes)}\n`).join(''),
        );
      } catch (error) {
        // Expected failures (bad options, a broken checkpoint: buildModel makes them BuildModelErrors naming the file
        // or tensor) print one line; anything else keeps its stack.
        // The downloads and the delta's pre-check run before buildModel: their errors are wrapped the same way.
        const failure = asBuildModelError(error);
        const known = failure instanceof BuildModelError;
        process.stderr.write(`build-model: ${known ? failure.message : ((error as Error).stack ?? error)}\n`);
        process.exitCode = 1;
      }
    },
  );
