import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** A redis-server this process started and owns. */
export interface PrivateRedisServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** No `redis-server` binary could be found. */
export class RedisServerUnavailableError extends Error {
  override readonly name = 'RedisServerUnavailableError';
}

/** Asks the kernel for a free TCP port on 127.0.0.1. */
export async function findFreePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function findRedisServerBinary(): string | undefined {
  const fromEnvironment = process.env['REDIS_SERVER_BIN'];
  if (fromEnvironment) return fromEnvironment;
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path !== '' ? path : undefined;
}

/**
 * Starts a private, memory-only redis-server on a free port (the system binary from PATH or REDIS_SERVER_BIN).
 * It is stopped by `stop()` and, as a safety net, when this process exits.
 */
export async function startPrivateRedisServer(): Promise<PrivateRedisServer> {
  const binary = findRedisServerBinary();
  if (binary === undefined) {
    throw new RedisServerUnavailableError(
      'REDIS_URL is unset and no redis-server is on PATH: install Redis (apt-get install redis-server) or set REDIS_URL',
    );
  }
  const port = await findFreePort();
  const directory = mkdtempSync(join(tmpdir(), 'zvb-redis-'));
  const child: ChildProcess = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', directory],
    // Its own process group: Ctrl-C (SIGINT to the terminal's group) must not stop Redis before the graceful
    // shutdown that still needs it; `stop()` and the exit hook end it instead.
    { stdio: 'ignore', detached: true },
  );
  child.unref();
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new RedisServerUnavailableError(`redis-server exited with ${child.exitCode}`);
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      break;
    } catch {
      probe.disconnect();
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new RedisServerUnavailableError(`redis-server did not answer on port ${port}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    url,
    port,
    async stop() {
      process.off('exit', killOnExit);
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
