import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../src/text/parse-command.ts';

describe('parseCommand', () => {
  it.each([
    ['/reset', 'reset'],
    ['/RESET', 'reset'],
    ['  /Reset  ', 'reset'],
    ['/重置', 'reset'],
    ['／重置', 'reset'],
    ['<@123456789> /reset', 'reset'],
    ['<@!123456789>   /help', 'help'],
    ['@_user_1 /帮助', 'help'],
    ['@Ziya /幫助', 'help'],
    ['/help please', 'help'],
    ['/help!', 'help'],
  ])('%j → %s', (text, kind) => {
    expect(parseCommand(text)).toEqual({ kind });
  });

  it.each(['', 'reset', 'please /reset', '/resets', '/restart', '/', 'What does /help do?', 'https://x.com/reset'])(
    'is not a command: %j',
    (text) => {
      expect(parseCommand(text)).toBeUndefined();
    },
  );
});
