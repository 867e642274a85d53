import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { redisAnswers } from './redis-connection.ts';

/** A redis-server this process started and owns. */
export interface PrivateRedisServer {
  readonly url: string;
  readonly port: number;
  /**
   * Ends the server, keeping its port and directory for {@link up}: `crash` kills it (SIGKILL, nothing flushed beyond
   * what was already written), `clean` stops it (SIGTERM).
   */
  down(how: 'crash' | 'clean'): Promise<void>;
  /** Starts the server again (after {@link down}) on the same port and data; every client reconnects to it. */
  up(): Promise<void>;
  /** {@link down}, `downtimeMs` of nothing, then {@link up}. */
  restart(how: 'crash' | 'clean', downtimeMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Options of {@link startPrivateRedisServer}. */
export interface PrivateRedisOptions {
  /** Keep an append-only file, fsynced on every write (`appendonly yes`, `appendfsync always`). @defaultValue false */
  appendOnly?: boolean;
  /**
   * Keep a pid file here while the server runs, and first stop any server recorded here whose parent process is
   * gone (SIGKILLed, so it could not stop its server). @defaultValue none
   */
  pidDirectory?: string;
}

/** What a pid file records: the server, the process that started it, and the data directory it was given. */
interface PidRecord {
  pid: number;
  parentPid: number;
  port: number;
  directory: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The command line of process `pid` ('' when it is gone). */
function commandLine(pid: number): string {
  const proc = `/proc/${pid}/cmdline`;
  if (existsSync('/proc/self/cmdline')) {
    try {
      return readFileSync(proc, 'utf8').replaceAll('\0', ' ');
    } catch {
      return '';
    }
  }
  const ps = spawnSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' });
  return ps.status === 0 ? ps.stdout : '';
}

/**
 * Stops the redis-servers recorded in `pidDirectory` whose parent is dead, and removes their files. Only a process
 * that is still a redis-server with the recorded port (its process title) or data directory on its command line is
 * signalled, never a process that merely reuses the pid. Returns how many were stopped.
 */
export async function stopOrphanedRedisServers(pidDirectory: string): Promise<number> {
  if (!existsSync(pidDirectory)) return 0;
  let stopped = 0;
  for (const name of readdirSync(pidDirectory).filter((entry) => entry.endsWith('.json'))) {
    const file = join(pidDirectory, name);
    let record: PidRecord;
    try {
      record = JSON.parse(readFileSync(file, 'utf8')) as PidRecord;
    } catch {
      rmSync(file, { force: true });
      continue;
    }
    if (isAlive(record.parentPid)) continue;
    const line = commandLine(record.pid);
    if (
      line.includes('redis-server') &&
      (new RegExp(`:${record.port}(\\s|$)`).test(line) || line.includes(record.directory))
    ) {
      process.kill(record.pid, 'SIGTERM');
      const deadline = Date.now() + 3000;
      while (isAlive(record.pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      if (isAlive(record.pid)) process.kill(record.pid, 'SIGKILL');
      stopped += 1;
    }
    rmSync(record.directory, { recursive: true, force: true });
    rmSync(file, { force: true });
  }
  return stopped;
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
  const path = (found.stdout ?? '').trim();
  return found.status === 0 && path !== '' ? path : undefined;
}

/** Waits until the server answers PING; throws when it exits or stays silent for 10 s. */
async function waitUntilAnswering(child: ChildProcess, url: string, port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await redisAnswers(url))) {
    if (child.exitCode !== null) throw new RedisServerUnavailableError(`redis-server exited with ${child.exitCode}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new RedisServerUnavailableError(`redis-server did not answer on port ${port}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Sends `signal` and waits (at most 3 s, then SIGKILL) for the process to exit. */
async function end(child: ChildProcess, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts a private redis-server on a free port (the system binary from PATH or REDIS_SERVER_BIN), memory-only
 * unless `appendOnly` is set. It is stopped by `stop()` and, as a safety net, when this process exits.
 */
export async function startPrivateRedisServer(options: PrivateRedisOptions = {}): Promise<PrivateRedisServer> {
  const binary = findRedisServerBinary();
  if (binary === undefined) {
    throw new RedisServerUnavailableError(
      'REDIS_URL is unset and no redis-server is on PATH: install Redis (apt-get install redis-server) or set REDIS_URL',
    );
  }
  if (options.pidDirectory !== undefined) await stopOrphanedRedisServers(options.pidDirectory);
  const port = await findFreePort();
  const directory = mkdtempSync(join(tmpdir(), 'zvb-redis-'));
  const pidFile = options.pidDirectory === undefined ? undefined : join(options.pidDirectory, `${process.pid}.json`);
  const persistence = options.appendOnly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess;
  const killOnExit = () => {
    child.kill('SIGKILL');
    if (pidFile !== undefined) rmSync(pidFile, { force: true });
  };
  const launch = async () => {
    child = spawn(
      binary,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--dir', directory],
      // Its own process group: Ctrl-C (SIGINT to the terminal's group) must not stop Redis before the graceful
      // shutdown that still needs it; `stop()` and the exit hook end it instead.
      { stdio: 'ignore', detached: true },
    );
    child.unref();
    if (pidFile !== undefined && child.pid !== undefined) {
      mkdirSync(dirname(pidFile), { recursive: true });
      const record: PidRecord = { pid: child.pid, parentPid: process.pid, port, directory };
      writeFileSync(pidFile, JSON.stringify(record));
    }
    await waitUntilAnswering(child, url, port);
  };
  const down = (how: 'crash' | 'clean') => end(child, how === 'crash' ? 'SIGKILL' : 'SIGTERM');
  process.on('exit', killOnExit);
  await launch();
  return {
    url,
    port,
    down,
    up: launch,
    async restart(how, downtimeMs = 0) {
      await down(how);
      await new Promise((resolve) => setTimeout(resolve, downtimeMs));
      await launch();
    },
    async stop() {
      process.off('exit', killOnExit);
      await end(child, 'SIGTERM');
      rmSync(directory, { recursive: true, force: true });
      if (pidFile !== undefined) rmSync(pidFile, { force: true });
    },
  };
}
