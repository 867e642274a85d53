/** Names of the bot's own Redis keys, all under the configured prefix (design §3). */
export class RedisKeys {
  constructor(readonly prefix: string) {}
  /** Normalized image bytes. */
  image(sha256: string): string {
    return `${this.prefix}:img:${sha256}`;
  }
  /** Raw upload bytes parked for the ingest worker. */
  upload(uploadKey: string): string {
    return `${this.prefix}:upload:${uploadKey}`;
  }
  /** The channel's conversation turns (a list of JSON turns). */
  context(channelKey: string): string {
    return `${this.prefix}:ctx:${channelKey}`;
  }
  /** Request ids already appended to the channel's conversation. */
  contextRequestIds(channelKey: string): string {
    return `${this.prefix}:ctx-ids:${channelKey}`;
  }
  /** Cached projected image vectors. */
  embedding(modelId: string, sha256: string): string {
    return `${this.prefix}:emb:${modelId}:${sha256}`;
  }
  /** The Discord gateway sessions (a hash: shard id → session JSON), so a restarted adapter resumes them. */
  discordSessions(): string {
    return `${this.prefix}:discord-sessions`;
  }
  /** Receipt of a platform message (drops redeliveries). */
  received(requestId: string): string {
    return `${this.prefix}:seen:${requestId}`;
  }
  /** The channel's line: request ids in arrival order, the head being answered. */
  line(channelKey: string): string {
    return `${this.prefix}:line:${channelKey}`;
  }
  /** When each request joined its channel's line (ms), for spotting entries whose ingest died. */
  lineJoinedAt(channelKey: string): string {
    return `${this.prefix}:line-at:${channelKey}`;
  }
  /** The channel's last answered request id: the next request's reply is delivered only after its reply. */
  lineLast(channelKey: string): string {
    return `${this.prefix}:line-last:${channelKey}`;
  }
  /** The request whose reply waits (delayed) for this request's reply to be delivered. */
  replyWaiter(requestId: string): string {
    return `${this.prefix}:reply-waiter:${requestId}`;
  }
  /** A validated request waiting in its channel's line. */
  entry(requestId: string): string {
    return `${this.prefix}:req:${requestId}`;
  }
  /** Marks a request answered (its reply enqueued): a redelivered request is skipped. */
  answered(requestId: string): string {
    return `${this.prefix}:done:${requestId}`;
  }
  /** Tokens of the generation attempts of a request, one per start (a poison request is dropped after a few). */
  attempts(requestId: string): string {
    return `${this.prefix}:attempts:${requestId}`;
  }
  /** Arrival times of a user's recent messages (per-user rate limit). */
  rateUser(userKey: string): string {
    return `${this.prefix}:rate-user:${userKey}`;
  }
  /** Arrival times of a channel's recent messages (per-channel rate limit). */
  rateChannel(channelKey: string): string {
    return `${this.prefix}:rate-channel:${channelKey}`;
  }
  /** Set while a "slow down" reply for this scope was sent in the current window. */
  rateNotice(scope: string): string {
    return `${this.prefix}:rate-notice:${scope}`;
  }
}
