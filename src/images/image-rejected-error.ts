/**
 * Why an image was refused: the stable error keys of design §2 (rendered from the catalog as `error.<key>`);
 * `image_unsupported`: the model is text-only (no vision graph), so no image can be used.
 */
export type ImageRejectionKey = 'image_too_large' | 'image_unreadable' | 'unsupported_format' | 'image_unsupported';

/** An image the bot will not use; `key` is what the user is told, `detail` is for logs. */
export class ImageRejectedError extends Error {
  override readonly name = 'ImageRejectedError';
  /** Not worth retrying: the same bytes are refused the same way every time. */
  readonly retryable = false;

  constructor(
    readonly key: ImageRejectionKey,
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(`Image rejected (${key}): ${detail}`, options);
  }
}
