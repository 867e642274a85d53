/** A URL (REDIS_URL) without its user and password, for log lines and errors. */
export function redactRedisUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
