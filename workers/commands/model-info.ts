import { Command } from 'commander';

/** `ziya-visual-bot model info <dir>`: what a model directory holds and where its weights came from. */
export const command = new Command('model').description('inspect model directories').addCommand(
  new Command('info')
    .description('print a model directory: demo or not, sources and digests, dtype, template, sizes')
    .argument('<dir>', 'the model directory (the one MODEL_DIR names)')
    .option('--json', 'print model.json with the file sizes instead')
    .action(async (directory: string, options: { json?: boolean }) => {
      const { describeModelDirectory, modelDirectoryFiles } = await import('../model/describe-model-directory.ts');
      const { readManifest } = await import('../model/manifest.ts');
      try {
        if (options.json) {
          const manifest = readManifest(directory);
          process.stdout.write(
            `${JSON.stringify({ ...manifest, sizes: modelDirectoryFiles(directory, manifest) }, null, 2)}\n`,
          );
        } else {
          process.stdout.write(describeModelDirectory(directory));
        }
      } catch (error) {
        if ((error as Error).name !== 'ModelDirectoryError') throw error;
        process.stderr.write(`model info: ${(error as Error).message}\n`);
        process.exitCode = 1;
      }
    }),
);
