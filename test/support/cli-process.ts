import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';

const repositoryRoot = resolve(import.meta.dirname, '../..');

/**
 * A `ziya-visual-bot` command run as its own process, its output (JSON log lines) kept. The test's own Redis, model
 * and platform credentials are not inherited: each test passes exactly the environment it means.
 */
export class CliProcess {
  readonly child: ChildProcess;
  private output = '';
  readonly exited: Promise<number | null>;

  constructor(args: string[], environment: Record<string, string>) {
    const {
      REDIS_URL: _redis,
      MODEL_DIR: _model,
      DISCORD_TOKEN: _discord,
      LARK_APP_ID: _larkApp,
      LARK_APP_SECRET: _larkSecret,
      ...inherited
    } = process.env;
    this.child = spawn(process.execPath, ['bin/ziya-visual-bot.js', ...args], {
      cwd: repositoryRoot,
      env: { ...inherited, ...environment },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer) => {
      this.output += chunk.toString();
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** Everything the process wrote so far. */
  text(): string {
    return this.output;
  }

  /** The parsed JSON log lines so far. */
  logLines(): Array<Record<string, unknown>> {
    return this.output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => {
        try {
          return JSON.parse(line) as Record<string, unknown>;
        } catch {
          return {};
        }
      });
  }

  /** Waits for a log line matching `predicate`; fails early when the process exits. */
  async waitForLog(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs = 60_000,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logLines().find(predicate);
      if (found !== undefined) return found;
      if (this.child.exitCode !== null) throw new Error(`the process exited (${this.child.exitCode}):\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`no such log line within ${timeoutMs} ms:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Kills the process with SIGKILL if it still runs. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** Polls `probe` until it returns true. */
export async function eventually(probe: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
