/**
 * A Hub download failed for a reason the user can act on (a token, a name, a revision, disk space, a corrupted
 * transfer). The message is one line and names what to fix; `build-model` prints it without a stack trace.
 */
export class HubError extends Error {
  override readonly name = 'HubError';
  constructor(
    message: string,
    /** The HTTP status, when the Hub answered one. */
    readonly status?: number,
  ) {
    super(message);
  }
}
