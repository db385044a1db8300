/**
 * Retry policies users write: a job's (`defineJob({ retry })`) and a step's
 * (`step.run(name, fn, { retry, timeout })`), checked once where they are given.
 */
import { InvalidArgumentError } from './errors.js'

export interface RetryBackoff {
  /** Delay before the second attempt, in milliseconds. */
  initial?: number
  /** Each further delay is the previous one times this. */
  factor?: number
  /** No delay exceeds this (ms). */
  max?: number
  /** Spread each delay by ± this fraction (0…1). */
  jitter?: number
}

export interface RetryPolicy {
  /** Attempts in all, the first included (1 = no retry). */
  attempts: number
  backoff?: RetryBackoff
}

export interface StepRunOptions {
  /** Retry this step's body in place; finished steps are never re-run. */
  retry?: RetryPolicy
  /** Abort the step's signal and fail this attempt after this many milliseconds. */
  timeout?: number
}

/** Check a retry policy where it is given; the policy itself is returned. */
export function validateRetryPolicy(value: unknown, where: string): RetryPolicy {
  if (!value || typeof value !== 'object') {
    throw new InvalidArgumentError(`${where}: "retry" must be an object like { attempts: 3 }`)
  }
  return value as RetryPolicy
}
