import type { Logger } from '../../src/observability/logger.ts';

/**
 * The logger handed to the Lark SDK. The SDK logs whole axios errors (their request bodies carry the app secret),
 * so only the string parts of its messages are kept, and any known secret is masked in them.
 */
export function sdkLogger(logger: Logger, secrets: readonly string[]) {
  const clean = (parts: unknown): string => {
    const list = Array.isArray(parts) ? parts : [parts];
    let text = list
      .map((part) => (typeof part === 'string' ? part : part instanceof Error ? part.message : ''))
      .filter((part) => part !== '')
      .join(' ');
    for (const secret of secrets) if (secret.length >= 4) text = text.replaceAll(secret, '[redacted]');
    return text;
  };
  const sdk = logger.child({ component: 'lark-sdk' });
  return {
    error: (parts: unknown) => sdk.warn(clean(parts)),
    warn: (parts: unknown) => sdk.warn(clean(parts)),
    info: (parts: unknown) => sdk.debug(clean(parts)),
    debug: (parts: unknown) => sdk.trace(clean(parts)),
    trace: (parts: unknown) => sdk.trace(clean(parts)),
  };
}
