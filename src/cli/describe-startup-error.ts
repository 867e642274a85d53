import { ConfigError } from '../config/config-error.ts';
import { RedisServerUnavailableError } from '../redis/private-redis-server.ts';
import { StartupError } from './startup-error.ts';

/** Which environment variable sets a listening port, for the hint of an `EADDRINUSE`. */
export type PortVariables = Record<string, number | undefined>;

/** A user-caused start-up failure as the one line to print and the exit code; undefined for a bug (keep its stack). */
export function describeStartupError(
  error: unknown,
  ports: PortVariables = {},
): { line: string; exitCode: number } | undefined {
  if (error instanceof ConfigError) return { line: error.message, exitCode: 2 };
  if (error instanceof StartupError) return { line: error.message, exitCode: error.exitCode };
  if (error instanceof RedisServerUnavailableError) return { line: error.message, exitCode: 1 };
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
    const { port, address } = error as { port?: number; address?: string };
    const variable = Object.entries(ports).find(([, value]) => value === port)?.[0];
    const where = `${address ?? 'host'}:${port ?? '?'}`;
    const fix = `set ${variable ?? 'the port variable'} to another port (0 = any free port)`;
    const line =
      code === 'EADDRINUSE'
        ? `Port ${where} is already in use (another ziya-visual-bot?): stop that process or ${fix}`
        : code === 'EACCES'
          ? `Not allowed to listen on ${where} (ports below 1024 need privileges): ${fix}`
          : `Cannot listen on ${where}: that address is not on this machine; check the host variable or ${fix}`;
    return { line, exitCode: 1 };
  }
  return undefined;
}

/** The ports this configuration listens on, by variable (empty when the configuration itself is invalid). */
export async function configuredPorts(): Promise<PortVariables> {
  const { loadConfig } = await import('../config/config.ts');
  try {
    const config = loadConfig();
    return {
      WEB_PORT: config.WEB_PORT,
      METRICS_PORT: config.METRICS_PORT,
      LARK_WEBHOOK_PORT: config.LARK_WEBHOOK_PORT,
    };
  } catch {
    return {};
  }
}
