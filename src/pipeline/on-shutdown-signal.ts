import type { Logger } from '../observability/logger.ts';

/**
 * Runs `shutdown` once on SIGINT/SIGTERM/SIGHUP (a closed terminal; stop taking jobs, let active ones finish, close connections), then exits.
 * A second signal, or a shutdown longer than `graceMs`, exits at once.
 */
export function onShutdownSignal(logger: Logger, shutdown: () => Promise<void>, graceMs = 60_000): void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing active jobs');
    // A shutdown that cannot finish (Redis gone, a stuck generation) must not keep the process alive for ever.
    setTimeout(() => {
      logger.error({ graceMs }, 'shutdown took too long: exiting');
      process.exit(1);
    }, graceMs).unref();
    shutdown().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ error: String(error) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handle);
  process.on('SIGTERM', handle);
  process.on('SIGHUP', handle);
}
