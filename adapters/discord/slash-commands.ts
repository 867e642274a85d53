import { SlashCommandBuilder } from 'discord.js';

/** The names of the bot's slash commands. */
export type SlashCommandName = 'ask' | 'reset' | 'help';

/** `/ask` (question + optional image), `/reset`, `/help`, with Chinese names and descriptions for zh clients. */
export function slashCommandDefinitions() {
  return [
    new SlashCommandBuilder()
      .setName('ask')
      .setDescription('Ask about a picture (or follow up on the conversation)')
      .setDescriptionLocalizations({ 'zh-CN': '就图片提问（或继续对话）', 'zh-TW': '就圖片提問（或繼續對話）' })
      .addStringOption((option) =>
        option
          .setName('question')
          .setDescription('Your question')
          .setDescriptionLocalizations({ 'zh-CN': '你的问题', 'zh-TW': '你的問題' })
          .setRequired(true)
          .setMaxLength(4000),
      )
      .addAttachmentOption((option) =>
        option
          .setName('image')
          .setDescription('A picture to ask about')
          .setDescriptionLocalizations({ 'zh-CN': '要提问的图片', 'zh-TW': '要提問的圖片' }),
      ),
    new SlashCommandBuilder()
      .setName('reset')
      .setDescription('Clear this conversation')
      .setDescriptionLocalizations({ 'zh-CN': '清除本频道的对话', 'zh-TW': '清除本頻道的對話' }),
    new SlashCommandBuilder()
      .setName('help')
      .setDescription('How to use the bot')
      .setDescriptionLocalizations({ 'zh-CN': '使用说明', 'zh-TW': '使用說明' }),
  ].map((builder) => builder.toJSON());
}

/** The question text a slash command stands for (the pipeline understands `/reset` and `/help`). */
export function commandText(name: SlashCommandName, question: string | null): string {
  if (name === 'reset') return '/reset';
  if (name === 'help') return '/help';
  return question ?? '';
}
