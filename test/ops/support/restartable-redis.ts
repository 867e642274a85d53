import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { findFreePort } from '../../../src/redis/private-redis-server.ts';

/** A redis-server of the test's own on a fixed free port, which the test can stop and start again on that port. */
export class RestartableRedis {
  private child: ChildProcess | undefined;
  private readonly directory = mkdtempSync(join(tmpdir(), 'zvb-ops-redis-'));

  private constructor(readonly port: number) {}

  /** Picks a free port and starts the server on it. */
  static async start(): Promise<RestartableRedis> {
    const redis = new RestartableRedis(await findFreePort());
    await redis.up();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server (again) and waits until it answers PING. */
  async up(): Promise<void> {
    const binary = process.env['REDIS_SERVER_BIN'] || 'redis-server';
    this.child = spawn(
      binary,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.directory],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => {});
      try {
        await probe.connect();
        await probe.ping();
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      } finally {
        probe.disconnect();
      }
    }
  }

  /** Stops the server (SIGTERM, then SIGKILL) and waits for it to exit. */
  async down(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops the server for good and removes its directory. */
  async stop(): Promise<void> {
    await this.down();
    rmSync(this.directory, { recursive: true, force: true });
  }
}
