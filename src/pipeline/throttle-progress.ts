/** Calls `publish` with the latest value at most once per `intervalMs` (the first at once, the last on flush). */
export class ProgressThrottle<Value> {
  private lastSentAt = 0;
  private pending: Value | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly intervalMs: number,
    private readonly publish: (value: Value) => Promise<void>,
  ) {}

  /** Offers a newer value. */
  offer(value: Value): void {
    this.pending = value;
    const wait = this.lastSentAt + this.intervalMs - Date.now();
    if (wait <= 0) this.send();
    else this.timer ??= setTimeout(() => this.send(), wait);
  }

  /** Stops the timer and waits for what was sent; the pending value is dropped (the final reply supersedes it). */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
    await this.inFlight;
  }

  private send(): void {
    this.timer = undefined;
    const value = this.pending;
    if (value === undefined) return;
    this.pending = undefined;
    this.lastSentAt = Date.now();
    this.inFlight = this.inFlight.then(() => this.publish(value)).catch(() => {});
  }
}
