/** Reconnect delays: exponential, capped, with jitter. */

/** How {@link Client} waits between attempts to get a session back. */
export interface BackoffOptions {
  /** The delay before the second attempt (the first is immediate); default 250 ms. */
  initialDelayMs: number;
  /** The longest delay; default 30 000 ms. */
  maxDelayMs: number;
  /** Growth per attempt; default 2. */
  factor: number;
  /** Randomized share of each delay, 0..1; default 0.5 (a delay d waits between d/2 and d). */
  jitter: number;
}

/** The defaults of {@link BackoffOptions}. */
export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  initialDelayMs: 250,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.5,
});

/**
 * The delay after failed attempt number `attempt` (0-based):
 * `min(max, initial * factor^attempt)`, of which the `jitter` share is random
 * (`random` returns 0..1). Jitter keeps many clients that lost the same server
 * from coming back all at once.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const exp = options.initialDelayMs * Math.pow(options.factor, Math.min(attempt, 64));
  const capped = Math.min(options.maxDelayMs, exp);
  const jitter = Math.min(1, Math.max(0, options.jitter));
  return Math.round(capped * (1 - jitter) + capped * jitter * random());
}
