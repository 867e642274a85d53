import { describe, expect, it } from 'vitest';
import { createDiscordClient } from '../../adapters/discord/transport.ts';
import { loadConfig } from '../../src/config/config.ts';
import { ConfigError } from '../../src/config/config-error.ts';

// DISCORD_SHARDS, sharded the discord.js way: `auto` asks Discord (GET /gateway/bot) how many; a count runs shards
// 0…count-1 in this process. Each shard's session is stored and resumed on its own (discord-sessions: shard id → session).
describe('Discord shards', () => {
  const config = (value?: string) =>
    loadConfig(value === undefined ? {} : { DISCORD_SHARDS: value }, { readDotenv: false }).DISCORD_SHARDS;

  it('reads DISCORD_SHARDS as auto (the default) or a count, and refuses anything else naming the variable', () => {
    expect(config()).toBe('auto');
    expect(config('auto')).toBe('auto');
    expect(config('4')).toBe(4);
    for (const bad of ['0', '-1', 'two', '1.5']) {
      expect(() => config(bad)).toThrow(ConfigError);
      expect(() => config(bad)).toThrow(/DISCORD_SHARDS/);
    }
  });

  it('gives discord.js the shards: auto, or every shard id of the count', async () => {
    const auto = createDiscordClient(undefined, 'auto');
    const three = createDiscordClient(undefined, 3);
    expect(auto.options.shards).toBe('auto');
    expect(three.options.shards).toEqual([0, 1, 2]);
    expect(three.options.shardCount).toBe(3);
    await Promise.all([auto.destroy(), three.destroy()]);
  });
});
