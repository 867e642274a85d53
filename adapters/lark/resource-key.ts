/**
 * Lark resource and message ids as the platform issues them (`om_…`, `img_v2_0a1b…-…`, `file_v2_…`): letters,
 * digits, `_` and `-`. Anything else (a `/`, `..`, `%`, `?`) came from a crafted event and would steer the resource
 * URL to another message or endpoint with the bot's token.
 */
const resourceKeyPattern = /^[A-Za-z0-9_-]+$/;

/** True for a well-formed Lark message id, image key or file key. */
export function isLarkResourceKey(value: string): boolean {
  return resourceKeyPattern.test(value);
}
