import { defaultHttpInstance, type HttpInstance, type HttpRequestOptions } from '@larksuiteoapi/node-sdk';

/**
 * The SDK's own HTTP client (its interceptors unwrap the response bodies) with a timeout on every request: the SDK
 * sets none, so a Lark API call whose answer never comes (a reply, an image download) would hold its delivery or
 * ingest job, and with it every later message of the chat, forever. A timed-out call fails like a network error
 * (retryable).
 */
export function httpInstanceWithTimeout(timeoutMs: number): HttpInstance {
  // Typed as axios, used by the SDK as an HttpInstance (its response interceptor returns the body).
  const http = defaultHttpInstance as unknown as HttpInstance;
  const withTimeout = <Data>(options?: HttpRequestOptions<Data>): HttpRequestOptions<Data> => ({
    timeout: timeoutMs,
    ...options,
  });
  return {
    request: (options) => http.request(withTimeout(options)),
    get: (url, options) => http.get(url, withTimeout(options)),
    delete: (url, options) => http.delete(url, withTimeout(options)),
    head: (url, options) => http.head(url, withTimeout(options)),
    options: (url, options) => http.options(url, withTimeout(options)),
    post: (url, data, options) => http.post(url, data, withTimeout(options)),
    put: (url, data, options) => http.put(url, data, withTimeout(options)),
    patch: (url, data, options) => http.patch(url, data, withTimeout(options)),
  };
}
