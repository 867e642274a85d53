/** Who may talk to the bot; an empty list lets everyone through. */
export interface DiscordAllowlist {
  /** Guild ids the bot answers in (direct messages are not guild-bound and pass). */
  guilds: readonly string[];
  /** Channel ids (a thread passes when its parent channel is listed). */
  channels: readonly string[];
  /** Role ids: in a guild, the author needs one of them. */
  roles: readonly string[];
  /** User ids the bot answers. */
  users: readonly string[];
}

/** Tuning of the Discord adapter. */
export interface DiscordTuning {
  /** Minimum milliseconds between two edits of a streamed answer. @defaultValue 1000 */
  streamEditIntervalMs: number;
  /** How often the typing indicator is renewed while waiting (Discord shows it ~10 s). @defaultValue 8000 */
  typingIntervalMs: number;
  /** The longest the typing indicator is kept up for one request. @defaultValue 180000 */
  typingMaxMs: number;
  /** How long a picture sent alone waits for its sender's question in the next message. @defaultValue 20000 */
  imageQuestionWindowMs: number;
  /** Discord's message length limit. @defaultValue 2000 */
  maxMessageLength: number;
  /** Register `/ask`, `/reset`, `/help` as global commands once ready. @defaultValue true */
  registerCommands: boolean;
  /** An image download (CDN) that has not finished after this long is abandoned and retried. @defaultValue 30000 */
  imageDownloadTimeoutMs: number;
}

/** Defaults of {@link DiscordTuning}, written once. */
export const discordTuningDefaults = {
  streamEditIntervalMs: 1000,
  typingIntervalMs: 8000,
  typingMaxMs: 180_000,
  imageQuestionWindowMs: 20_000,
  maxMessageLength: 2000,
  registerCommands: true,
  imageDownloadTimeoutMs: 30_000,
} as const satisfies DiscordTuning;

/** Discord's own CDN hosts: the only hosts image links are fetched from. */
export const discordCdnHosts = ['cdn.discordapp.com', 'media.discordapp.net'] as const;

/**
 * The origins images may be downloaded from: Discord's CDN over https, plus the origin of `DISCORD_API_URL` when it
 * overrides the API (a self-hosted gateway or the tests' fake Discord serves attachments there).
 */
export function allowedImageOrigins(apiUrl: string | undefined): string[] {
  const origins = discordCdnHosts.map((host) => `https://${host}`);
  if (apiUrl !== undefined) origins.push(new URL(apiUrl).origin);
  return origins;
}

/** True when `url` is on one of `origins` (scheme, host and port must match). */
export function isAllowedImageUrl(url: string, origins: readonly string[]): boolean {
  try {
    return origins.includes(new URL(url).origin);
  } catch {
    return false;
  }
}
