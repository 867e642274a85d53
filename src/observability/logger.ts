import { type Logger, pino } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';

/**
 * Creates the process's logger: JSON lines, or readable coloured lines when stdout is a terminal (pino-pretty,
 * written synchronously so nothing is lost on exit). Secrets never go into log fields (tokens are redacted by name).
 */
export function createLogger(
  level: string,
  name = 'ziya-visual-bot',
  terminal = process.stdout.isTTY === true,
): Logger {
  const options = {
    name,
    level,
    redact: { paths: ['*.token', '*.appSecret', '*.password', 'token', 'appSecret'], censor: '[redacted]' },
  };
  return terminal ? pino(options, pretty({ sync: true, ignore: 'pid,hostname' })) : pino(options);
}
