import { type REST, Routes } from 'discord.js';

/** Keeps "… is typing" up in a channel while a request waits for its first text (renewed before it lapses). */
export class TypingIndicators {
  private readonly active = new Map<string, { interval: NodeJS.Timeout; stop: NodeJS.Timeout }>();

  constructor(
    private readonly rest: REST,
    private readonly intervalMs: number,
    private readonly maxMs: number,
  ) {}

  /** Starts (or keeps) the indicator for a request. */
  start(requestId: string, channelId: string): void {
    if (this.active.has(requestId)) return;
    const send = () => {
      this.rest.post(Routes.channelTyping(channelId)).catch(() => {});
    };
    send();
    const interval = setInterval(send, this.intervalMs);
    const stop = setTimeout(() => this.stop(requestId), this.maxMs);
    interval.unref();
    stop.unref();
    this.active.set(requestId, { interval, stop });
  }

  /** Stops the indicator of a request (its text is showing, or it was answered). */
  stop(requestId: string): void {
    const timers = this.active.get(requestId);
    if (timers === undefined) return;
    clearInterval(timers.interval);
    clearTimeout(timers.stop);
    this.active.delete(requestId);
  }

  /** Stops every indicator. */
  close(): void {
    for (const requestId of [...this.active.keys()]) this.stop(requestId);
  }
}
