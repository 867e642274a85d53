import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { Queue } from 'bullmq';

const repositoryRoot = resolve(import.meta.dirname, '../../..');

/**
 * `ziya-visual-bot worker` processes (or another command's, e.g. `adapter lark`) on one environment: spawned, killed
 * by the name they report in progress events (`worker-<pid>`), replaced. Every one still running is SIGKILLed when
 * this process exits.
 */
export class WorkerProcesses {
  /** Every worker ever spawned, in spawn order (dead ones included). */
  readonly all: ChildProcess[] = [];
  private readonly killAll = () => {
    for (const child of this.running()) child.kill('SIGKILL');
  };

  /**
   * @param environment - the complete environment of a worker (nothing is inherited but PATH and HOME)
   * @param stdio - where the workers' output goes
   * @param command - the CLI command the processes run
   */
  constructor(
    private readonly environment: Record<string, string>,
    private readonly stdio: 'inherit' | 'ignore' = 'inherit',
    private readonly command: readonly string[] = ['worker'],
  ) {
    process.once('exit', this.killAll);
  }

  /** Starts one more worker process. */
  spawn(): ChildProcess {
    const child = spawn(process.execPath, ['bin/ziya-visual-bot.js', ...this.command], {
      cwd: repositoryRoot,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...this.environment },
      stdio: ['ignore', this.stdio, this.stdio],
    });
    this.all.push(child);
    return child;
  }

  /** The workers still running. */
  running(): ChildProcess[] {
    return this.all.filter((child) => child.exitCode === null && child.signalCode === null);
  }

  /** SIGKILLs the worker that calls itself `name` (`worker-<pid>`) and waits for it to die; false if none. */
  async kill(name: string): Promise<boolean> {
    const child = this.running().find((candidate) => `worker-${candidate.pid}` === name);
    return child !== undefined && (await this.killProcess(child));
  }

  /** SIGKILLs one of these processes and waits for it to die. */
  async killProcess(child: ChildProcess): Promise<true> {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    return true;
  }

  /** Waits until `count` workers are registered on the requests queue (each has loaded its model). */
  async waitUntilRegistered(requests: Queue, count: number, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await requests.getWorkersCount()) < count) {
      if (Date.now() > deadline)
        throw new Error(`only ${await requests.getWorkersCount()} of ${count} workers started`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** Stops every worker: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    const running = this.running();
    const exits = running.map((child) => new Promise((resolve) => child.once('exit', resolve)));
    for (const child of running) child.kill('SIGTERM');
    const timer = setTimeout(() => {
      for (const child of this.running()) child.kill('SIGKILL');
    }, graceMs);
    await Promise.all(exits);
    clearTimeout(timer);
    process.off('exit', this.killAll);
  }
}
