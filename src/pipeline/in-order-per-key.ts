/**
 * Runs async tasks one after another per key, in the order they were handed in, while tasks of other keys run
 * alongside. Adapters receive a chat's events through it: a platform that pushes a burst (Lark after a reconnect) has
 * the SDK start their handlers at once, and a slower first one (a quoted picture looked up) must still join the
 * channel's line before the next.
 */
export class InOrderPerKey {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `task` once every task handed in before it with the same key has settled; a failure does not block the next. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(key) ?? Promise.resolve()).then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with tasks running or waiting. */
  get size(): number {
    return this.tails.size;
  }
}
