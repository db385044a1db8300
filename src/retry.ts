/**
 * The one backoff policy. Every loop that waits before trying again (the worker's claim after
 * a database failure, a patient fenced write, a statement the database refused as busy, a
 * reconnect, the PostgreSQL listener) takes its delays from here, with its own named policy
 * below, so "how long until we give up" is stated once per kind of work.
 */

export interface BackoffPolicy {
  /** Delay before the second attempt (ms). */
  initial: number
  /** Each further delay is the previous one times this. */
  factor: number
  /** No delay exceeds this (ms). */
  max: number
  /** Spread each delay by ± this fraction, so processes that failed together do not retry in lockstep. */
  jitter: number
}

/** The pause after the `failures`-th consecutive failure (1 = the first). */
export function backoffDelay(
  policy: BackoffPolicy,
  failures: number,
  random: () => number = Math.random,
): number {
  // The exponent is capped so a long outage cannot overflow to Infinity.
  const exponent = Math.min(Math.max(failures - 1, 0), 32)
  const delay = Math.min(policy.initial * policy.factor ** exponent, policy.max)
  const spread = 1 - policy.jitter + random() * 2 * policy.jitter
  return Math.max(0, Math.round(delay * spread))
}

export interface RetryOptions extends BackoffPolicy {
  /** Whether this failure is worth another attempt; anything else is thrown at once. */
  isRetryable(error: unknown): boolean
  /** Give up (throw the last error) rather than sleep past this instant, read from `now`. */
  deadline?: number
  now?: () => number
  /** Told before each pause: report the failure here. */
  onRetry?(error: unknown, failures: number, delay: number): void | Promise<void>
}

/** Call `operation` until it succeeds, a failure is not retryable, or the deadline would pass. */
export async function retry<T>(operation: () => Promise<T>, options: RetryOptions): Promise<T> {
  const now = options.now ?? Date.now
  for (let failures = 1; ; failures++) {
    try {
      return await operation()
    } catch (error) {
      if (!options.isRetryable(error)) throw error
      const delay = backoffDelay(options, failures)
      if (options.deadline !== undefined && now() + delay > options.deadline) throw error
      await options.onRetry?.(error, failures, delay)
      await pause(delay)
    }
  }
}

export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * The worker's claim loop after a failed claim: from one polling interval up to 5 s. A claim
 * every 5 s costs a database that is down nothing, and a worker cut off by a partition or an
 * outage is claiming again within 5 s of the heal even where no notification wakes it.
 */
export const claimBackoff = (pollingInterval: number): BackoffPolicy => ({
  initial: pollingInterval,
  factor: 2,
  max: Math.max(pollingInterval, 5_000),
  jitter: 0.1,
})

/**
 * A fenced write of an execution (a step, progress, the settle): a finished step is worth
 * keeping, so it is retried until half the stale threshold has passed (see `persist`).
 */
export const FENCED_WRITE_BACKOFF: BackoffPolicy = { initial: 5, factor: 2, max: 1000, jitter: 0.2 }

/** A statement SQLite refused as busy (another connection holds the write lock). */
export const BUSY_BACKOFF: BackoffPolicy = { initial: 2, factor: 2, max: 100, jitter: 0.2 }

/** How long a statement refused as busy is retried before its caller hears of it. */
export const BUSY_BUDGET_MS = 5000

/** A pooled connection the server dropped: the pool replaces it; try a few fresh ones. */
export const RECONNECT_BACKOFF: BackoffPolicy = { initial: 20, factor: 2, max: 320, jitter: 0.2 }
export const RECONNECT_ATTEMPTS = 5
