import { Command } from 'commander';

/**
 * Each command lives next to what it runs and exports `command` (a commander `Command`). Command modules import
 * their heavy dependencies (onnxruntime-node, discord.js, ...) inside the action, so `--help` stays fast.
 */
const commandModules: Array<() => Promise<{ command: Command }>> = [
  () => import('../workers/commands/build-model.ts'),
  () => import('../workers/commands/ask.ts'),
  () => import('./commands/start.ts'),
  () => import('./commands/worker.ts'),
  () => import('./commands/adapter.ts'),
];

const program = new Command('ziya-visual-bot')
  .description('Bilingual vision-language chat bot for Discord and Feishu/Lark (Ziya-Visual on onnxruntime-node)')
  .showHelpAfterError();
for (const load of commandModules) program.addCommand((await load()).command);
await program.parseAsync(process.argv);
