/** A picture sent without a question, waiting for its sender's next message. */
export interface HeldImage<Held> {
  held: Held;
  timer: NodeJS.Timeout;
}

/**
 * Joins a picture sent alone and the question its sender writes next in the same channel into one request: the
 * picture is held for `windowMs`, then answered by itself when no question came.
 */
export class ImageQuestionWindow<Held> {
  private readonly waiting = new Map<string, HeldImage<Held>>();

  constructor(
    private readonly windowMs: number,
    private readonly onExpired: (held: Held) => void,
  ) {}

  /** Holds a picture for `channelId:userId`; a picture already held there is released first. */
  hold(key: string, held: Held): void {
    this.release(key);
    const timer = setTimeout(() => {
      this.waiting.delete(key);
      this.onExpired(held);
    }, this.windowMs);
    timer.unref();
    this.waiting.set(key, { held, timer });
  }

  /** Takes the picture held for `key` (the question arrived), if any. */
  take(key: string): Held | undefined {
    const entry = this.waiting.get(key);
    if (entry === undefined) return undefined;
    clearTimeout(entry.timer);
    this.waiting.delete(key);
    return entry.held;
  }

  /** Answers a held picture by itself now. */
  release(key: string): void {
    const held = this.take(key);
    if (held !== undefined) this.onExpired(held);
  }

  /** Stops waiting (shutting down) and returns the pictures still held, for the caller to answer now. */
  close(): Held[] {
    const held = [...this.waiting.values()].map((entry) => {
      clearTimeout(entry.timer);
      return entry.held;
    });
    this.waiting.clear();
    return held;
  }
}
