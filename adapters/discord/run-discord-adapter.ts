import type { Redis } from 'ioredis';
import type { Config } from '../../src/config/config.ts';
import type { Logger } from '../../src/observability/logger.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import type { DiscordAdapter, DiscordAdapterOptions } from './discord-adapter.ts';
import { DiscordConnectError, DiscordTokenError } from './transport.ts';

/** The Discord adapter's options from the validated configuration (`DISCORD_*`, `ALLOWED_USERS`). */
export function discordOptionsFromConfig(config: Config, eventsConnection: Redis): DiscordAdapterOptions {
  return {
    token: config.DISCORD_TOKEN ?? '',
    apiUrl: config.DISCORD_API_URL,
    eventsConnection,
    allowlist: {
      guilds: config.DISCORD_ALLOWED_GUILDS,
      channels: config.DISCORD_ALLOWED_CHANNELS,
      roles: config.DISCORD_ALLOWED_ROLES,
      users: config.ALLOWED_USERS,
    },
    shards: config.DISCORD_SHARDS,
    tuning: {
      imageQuestionWindowMs: config.DISCORD_IMAGE_WAIT_MS,
      streamEditIntervalMs: config.DISCORD_STREAM_EDIT_INTERVAL_MS,
    },
  };
}

/**
 * Starts the Discord adapter from the configuration next to whatever else runs (`start`). A refused token or an
 * unreachable Discord is logged as one clear line and gives `undefined`: the rest of the process keeps running.
 */
export async function startDiscordFromConfig(
  pipeline: PipelineContext,
  config: Config,
  eventsConnection: Redis,
  logger: Logger,
): Promise<DiscordAdapter | undefined> {
  const { startDiscordAdapter } = await import('./discord-adapter.ts');
  try {
    const adapter = await startDiscordAdapter(pipeline, discordOptionsFromConfig(config, eventsConnection));
    logger.info({ botUserId: adapter.botUserId }, 'discord adapter connected');
    return adapter;
  } catch (error) {
    eventsConnection.disconnect();
    if (error instanceof DiscordTokenError || error instanceof DiscordConnectError) {
      logger.error(`discord adapter not started: ${error.message}`);
      return undefined;
    }
    throw error;
  }
}

/** Why `adapter discord` cannot start, or undefined when it can. */
export function discordConfigProblem(config: Config): string | undefined {
  if (config.DISCORD_TOKEN === undefined) {
    return 'adapter discord: DISCORD_TOKEN is unset. Create a bot in the Discord Developer Portal, enable the Message Content intent, and set DISCORD_TOKEN.';
  }
  if (config.REDIS_URL === undefined) {
    return 'adapter discord: REDIS_URL is unset. An adapter shares Redis with the workers; `start` runs everything in one process instead.';
  }
  return undefined;
}
