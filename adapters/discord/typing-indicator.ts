import { type REST, Routes } from 'discord.js';

interface ChannelTyping {
  interval: NodeJS.Timeout;
  /** The requests waiting for their first text, each with the timer that gives up on it after `maxMs`. */
  waiting: Map<string, NodeJS.Timeout>;
}

/**
 * Keeps "… is typing" up in a channel while any of its requests waits for its first text (renewed before it lapses).
 * Typing is shown per channel, so ten queued questions in one channel cost one request per interval, not ten: the
 * calls share Discord's global budget of 50 requests a second with the answers themselves.
 */
export class TypingIndicators {
  private readonly channels = new Map<string, ChannelTyping>();
  private readonly channelOf = new Map<string, string>();

  constructor(
    private readonly rest: REST,
    private readonly intervalMs: number,
    private readonly maxMs: number,
  ) {}

  /** Starts (or keeps) the indicator of a request's channel. */
  start(requestId: string, channelId: string): void {
    if (this.channelOf.has(requestId)) return;
    let channel = this.channels.get(channelId);
    if (channel === undefined) {
      const send = () => {
        this.rest.post(Routes.channelTyping(channelId)).catch(() => {});
      };
      send();
      const interval = setInterval(send, this.intervalMs);
      interval.unref();
      channel = { interval, waiting: new Map() };
      this.channels.set(channelId, channel);
    }
    const giveUp = setTimeout(() => this.stop(requestId), this.maxMs);
    giveUp.unref();
    channel.waiting.set(requestId, giveUp);
    this.channelOf.set(requestId, channelId);
  }

  /** Stops waiting for a request (its text is showing, or it was answered); the channel's last one ends typing. */
  stop(requestId: string): void {
    const channelId = this.channelOf.get(requestId);
    if (channelId === undefined) return;
    this.channelOf.delete(requestId);
    const channel = this.channels.get(channelId);
    if (channel === undefined) return;
    clearTimeout(channel.waiting.get(requestId));
    channel.waiting.delete(requestId);
    if (channel.waiting.size > 0) return;
    clearInterval(channel.interval);
    this.channels.delete(channelId);
  }

  /** Stops every indicator. */
  close(): void {
    for (const requestId of [...this.channelOf.keys()]) this.stop(requestId);
  }
}
