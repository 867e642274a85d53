/** A Lark OpenAPI call failed; `retryable` for 429 (`99991400`), 5xx and network errors. */
export class LarkApiError extends Error {
  override readonly name = 'LarkApiError';
  constructor(
    readonly operation: string,
    readonly retryable: boolean,
    readonly status: number | undefined,
    readonly code: number | undefined,
    detail: string,
  ) {
    super(
      `Lark ${operation} failed (${status === undefined ? '' : `HTTP ${status}, `}code ${code ?? 'none'}): ${detail}`,
    );
  }
}

/** The Lark app credentials were refused (the token call failed): the adapter cannot start. */
export class LarkCredentialsError extends Error {
  override readonly name = 'LarkCredentialsError';
}

/** Lark's "too many requests" business code (sent with HTTP 429, sometimes with 200). */
export const larkRateLimitCode = 99_991_400;

/** Turns an SDK/axios failure into a {@link LarkApiError}. */
export function toLarkApiError(operation: string, error: unknown): LarkApiError {
  if (error instanceof LarkApiError) return error;
  const response = (error as { response?: { status?: number; data?: unknown } } | undefined)?.response;
  const status = response?.status;
  const body = response?.data as { code?: unknown; msg?: unknown } | undefined;
  const code = typeof body?.code === 'number' ? body.code : undefined;
  const message = typeof body?.msg === 'string' ? body.msg : error instanceof Error ? error.message : String(error);
  const retryable = status === undefined || status === 429 || status >= 500 || code === larkRateLimitCode;
  return new LarkApiError(operation, retryable, status, code, message);
}
