/** How many wrong tokens one client address may send per window before sign-in is refused outright. */
export interface SignInAttemptLimits {
  /** Wrong tokens allowed per window and address. @defaultValue 5 */
  failuresPerWindow: number;
  /** @defaultValue 60000 */
  windowMs: number;
}

/** The default sign-in attempt limits. */
export const defaultSignInAttemptLimits = {
  failuresPerWindow: 5,
  windowMs: 60_000,
} as const satisfies SignInAttemptLimits;

/**
 * Wrong sign-in tokens per client address in fixed windows, in this process (one web adapter per deployment). Once
 * an address has used up its window, its next attempts are refused without the token being looked at, so guessing
 * runs at a few tries a minute. Behind a proxy every person shares the proxy's address.
 */
export class SignInAttempts {
  private readonly failures = new Map<string, { count: number; windowEndsAt: number }>();

  constructor(private readonly limits: SignInAttemptLimits = defaultSignInAttemptLimits) {}

  /** Milliseconds until `address` may try again; 0 when it may try now. */
  waitFor(address: string, now = Date.now()): number {
    const entry = this.failures.get(address);
    if (entry === undefined || entry.windowEndsAt <= now) return 0;
    return entry.count >= this.limits.failuresPerWindow ? entry.windowEndsAt - now : 0;
  }

  /** Counts a wrong token from `address`. */
  fail(address: string, now = Date.now()): void {
    this.forgetExpired(now);
    const entry = this.failures.get(address);
    if (entry === undefined || entry.windowEndsAt <= now)
      this.failures.set(address, { count: 1, windowEndsAt: now + this.limits.windowMs });
    else entry.count += 1;
  }

  // Bounded by the addresses that failed within one window.
  private forgetExpired(now: number): void {
    if (this.failures.size < 1024) return;
    for (const [address, entry] of this.failures) if (entry.windowEndsAt <= now) this.failures.delete(address);
  }
}
