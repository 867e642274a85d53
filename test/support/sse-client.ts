/** One Server-Sent Event. */
export interface ServerSentEvent {
  event: string;
  data: unknown;
}

/** Reads an SSE stream with fetch, keeping every event; `waitFor` resolves when a matching event arrived. */
export class SseClient {
  readonly events: ServerSentEvent[] = [];
  private readonly controller = new AbortController();
  private wakers: Array<() => void> = [];
  private readonly opened: Promise<void>;

  constructor(url: string) {
    this.opened = this.run(url);
  }

  /** Resolves once the stream is open. */
  async ready(): Promise<void> {
    await Promise.race([this.opened, this.openSignal]);
  }

  private openResolve!: () => void;
  private readonly openSignal = new Promise<void>((resolve) => {
    this.openResolve = resolve;
  });

  private async run(url: string): Promise<void> {
    const response = await fetch(url, { signal: this.controller.signal });
    if (response.body === null) throw new Error('no SSE body');
    this.openResolve();
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (event !== undefined && data !== undefined) {
            this.events.push({ event, data: JSON.parse(data) });
            for (const wake of this.wakers.splice(0)) wake();
          }
          end = buffer.indexOf('\n\n');
        }
      }
    } catch (error) {
      if (!this.controller.signal.aborted) throw error;
    }
  }

  /** Waits for an event matching `predicate` and returns it. */
  async waitFor(predicate: (event: ServerSentEvent) => boolean, timeoutMs = 60_000): Promise<ServerSentEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(predicate);
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`no matching SSE event in ${timeoutMs} ms; got ${JSON.stringify(this.events).slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.wakers.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The reply event of a request. */
  async reply(requestId: string, timeoutMs?: number): Promise<Record<string, unknown>> {
    const event = await this.waitFor(
      (candidate) => candidate.event === 'reply' && (candidate.data as { requestId?: string }).requestId === requestId,
      timeoutMs,
    );
    return event.data as Record<string, unknown>;
  }

  /** Closes the stream. */
  close(): void {
    this.controller.abort();
  }
}
