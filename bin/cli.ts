import { readFileSync } from 'node:fs';
import { Command } from 'commander';

/**
 * Each command lives next to what it runs and exports `command` (a commander `Command`). Command modules import
 * their heavy dependencies (onnxruntime-node, discord.js, ...) inside the action, so `--help` stays fast.
 */
const commandModules: Array<() => Promise<{ command: Command }>> = [
  () => import('../workers/commands/build-model.ts'),
  () => import('../workers/commands/ask.ts'),
  () => import('../workers/commands/model-info.ts'),
  () => import('./commands/start.ts'),
  () => import('./commands/worker.ts'),
  () => import('./commands/adapter.ts'),
];

const program = new Command('ziya-visual-bot')
  .description('Bilingual vision-language chat bot for Discord and Feishu/Lark (Ziya-Visual on onnxruntime-node)')
  .version(
    (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version,
    '-V, --version',
    'print the version',
  )
  .showHelpAfterError();
for (const load of commandModules) program.addCommand((await load()).command);
try {
  await program.parseAsync(process.argv);
} catch (error) {
  // The one top-level handler: a failure the user can fix is one line with a hint and a non-zero exit; anything
  // else is a bug and keeps its stack trace.
  const { describeStartupError, configuredPorts } = await import('../src/cli/describe-startup-error.ts');
  const described = describeStartupError(error, await configuredPorts());
  if (described === undefined) throw error;
  process.stderr.write(`${described.line}\n`);
  process.exit(described.exitCode);
}
