/** A command the bot understands in any channel. */
export interface ParsedCommand {
  kind: 'reset' | 'help';
}

// Mentions the platforms put in message text: Discord `<@123>`/`<@!123>`/`<@&123>`, Lark `@_user_1`, plain `@name`
// at the start (a user typing the bot's name).
const mentions = /<@[!&]?\d+>|@_user_\d+|^\s*@\S+/gu;

const commandNames: Readonly<Record<string, ParsedCommand['kind']>> = {
  reset: 'reset',
  重置: 'reset',
  help: 'help',
  帮助: 'help',
  幫助: 'help',
};

/**
 * Recognises `/reset`, `/重置`, `/help`, `/帮助` (`/幫助`) once mentions and surrounding whitespace are removed:
 * case-insensitive, with an ASCII or full-width slash (Chinese keyboards type `／`), alone or followed by other words.
 */
export function parseCommand(text: string): ParsedCommand | undefined {
  const stripped = text.normalize('NFKC').replace(mentions, ' ').trim();
  const match = /^\/(\S+?)[.!?。！？]?(?:\s|$)/u.exec(stripped);
  const name = match?.[1]?.toLowerCase();
  if (name === undefined || !Object.hasOwn(commandNames, name)) return undefined;
  const kind = commandNames[name];
  return kind === undefined ? undefined : { kind };
}
