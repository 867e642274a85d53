/**
 * A start-up failure the user caused and can fix (a taken port, a missing binary, an unreachable Redis): the
 * top-level handler prints `message` as one line, without a stack trace, and exits with `exitCode`.
 */
export class StartupError extends Error {
  override readonly name: string = 'StartupError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}
