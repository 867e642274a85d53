import { Client, Events, GatewayIntentBits, Partials } from 'discord.js';

/** The token was refused (HTTP 401 on `/gateway/bot`, or gateway close 4004): the adapter cannot run. */
export class DiscordTokenError extends Error {
  override readonly name = 'DiscordTokenError';
  constructor(readonly detail: string) {
    super(
      `Discord refused DISCORD_TOKEN (${detail}). Check the bot token in the Discord Developer Portal (Bot → Reset Token) and set DISCORD_TOKEN.`,
    );
  }
}

/** Connecting to Discord failed for another reason (network, API down). */
export class DiscordConnectError extends Error {
  override readonly name = 'DiscordConnectError';
}

/**
 * A discord.js client for the bot: guild messages with content, DMs (partial channels), no mention parsing; `shards`
 * as discord.js takes them (`auto`: as many as Discord recommends; a count: shards 0…count-1 in this process).
 */
export function createDiscordClient(apiUrl: string | undefined, shards: 'auto' | number = 'auto'): Client {
  return new Client({
    ...(shards === 'auto'
      ? { shards: 'auto' as const }
      : { shards: Array.from({ length: shards }, (_unused, index) => index), shardCount: shards }),
    intents: [
      GatewayIntentBits.Guilds,
      GatewayIntentBits.GuildMessages,
      GatewayIntentBits.MessageContent,
      GatewayIntentBits.DirectMessages,
    ],
    partials: [Partials.Channel],
    allowedMentions: { parse: [], repliedUser: true },
    enforceNonce: true,
    ...(apiUrl === undefined ? {} : { rest: { api: apiUrl } }),
  });
}

/**
 * Logs in and waits until the client is ready (guilds received). A refused token becomes {@link DiscordTokenError};
 * the token itself never appears in an error or a log line.
 */
export async function loginDiscord(client: Client, token: string, timeoutMs = 60_000): Promise<void> {
  const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
  let rejectRefused: (error: Error) => void = () => {};
  const refused = new Promise<never>((_resolve, reject) => {
    rejectRefused = reject;
  });
  // discord.js reports gateway close 4004 as a shard disconnect (an unrecoverable code), not through login().
  const onDisconnect = (event: { code: number }) => {
    if (event.code === 4004)
      rejectRefused(new DiscordTokenError('the gateway closed with 4004, authentication failed'));
    else if (event.code === 4014) {
      rejectRefused(
        new DiscordConnectError(
          'the gateway closed with 4014 (disallowed intents): enable the Message Content intent for the bot in the Discord Developer Portal',
        ),
      );
    } else rejectRefused(new DiscordConnectError(`the gateway closed with ${event.code}`));
  };
  client.on(Events.ShardDisconnect, onDisconnect);
  refused.catch(() => {}); // raced below; a late rejection must not be an unhandled one
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new DiscordConnectError(`not ready after ${timeoutMs} ms`)), timeoutMs);
  });
  timeout.catch(() => {});
  try {
    await Promise.race([
      client.login(token).catch((error: Error & { code?: string; status?: number }) => {
        if (error.code === 'TokenInvalid' || error.status === 401) throw new DiscordTokenError('HTTP 401 Unauthorized');
        throw new DiscordConnectError(`could not connect to Discord: ${error.message.replaceAll(token, '<token>')}`);
      }),
      refused,
      timeout,
    ]);
    await Promise.race([ready, refused, timeout]);
  } catch (error) {
    await client.destroy().catch(() => {});
    throw error;
  } finally {
    clearTimeout(timer);
    client.off(Events.ShardDisconnect, onDisconnect);
  }
}
