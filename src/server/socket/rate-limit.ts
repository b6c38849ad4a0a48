/**
 * A token bucket: the per-socket limit on browser mutations (`limits.rate` per second,
 * bursts of `limits.burst`). One small object per socket, no timers: tokens are refilled
 * from the time elapsed when one is asked for.
 */

/**
 * Allows `rate` actions per second on average, and up to `burst` at once.
 *
 * @example
 * const bucket = new TokenBucket(20, 40)
 * if (!bucket.take()) return ack({ ok: false, code: 'rate_limited', message: 'slow down' })
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  /**
   * @param rate - tokens added per second
   * @param burst - the most tokens held (the bucket starts full)
   * @param now - the clock in ms (for tests)
   */
  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /**
   * Takes one token when there is one.
   *
   * @returns true when the action is allowed
   * @example
   * bucket.take() // true until the burst is spent
   */
  take(): boolean {
    const now = this.now();
    // A clock that went backwards refills nothing, and never drains the bucket either.
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.rate) / 1000);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
