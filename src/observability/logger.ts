import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/** Creates the process's JSON logger; secrets never go into log fields (tokens are redacted by name). */
export function createLogger(level: string, name = 'ziya-visual-bot'): Logger {
  return pino({
    name,
    level,
    redact: { paths: ['*.token', '*.appSecret', '*.password', 'token', 'appSecret'], censor: '[redacted]' },
  });
}
