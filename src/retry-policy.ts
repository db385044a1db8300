/**
 * Retry policies users write: a job's (`defineJob({ retry })`) and a step's
 * (`step.run(name, fn, { retry, timeout })`), checked once where they are given, and the
 * backoff they resolve to.
 */
import { InvalidArgumentError, rejectUnknownKeys } from './errors.js'
import type { BackoffPolicy } from './retry.js'

export interface RetryBackoff {
  /** Delay before the second attempt, in milliseconds (default 1000). */
  initial?: number
  /** Each further delay is the previous one times this, at least 1 (default 2). */
  factor?: number
  /** No delay exceeds this, in milliseconds (default 3,600,000: an hour). */
  max?: number
  /** Spread each delay by ± this fraction, 0…1 (default 0.2). */
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

/**
 * The backoff a policy leaves unsaid: a second apart at first, doubling, never more than an
 * hour, spread by a fifth so runs that failed together do not retry together.
 */
export const DEFAULT_RETRY_BACKOFF: BackoffPolicy = {
  initial: 1000,
  factor: 2,
  max: 3_600_000,
  jitter: 0.2,
}

const POLICY_KEYS = ['attempts', 'backoff'] as const satisfies readonly (keyof RetryPolicy)[]
const BACKOFF_KEYS = [
  'initial',
  'factor',
  'max',
  'jitter',
] as const satisfies readonly (keyof RetryBackoff)[]
const STEP_OPTION_KEYS = ['retry', 'timeout'] as const satisfies readonly (keyof StepRunOptions)[]

/** Check a retry policy where it is given; the policy itself is returned. */
export function validateRetryPolicy(value: unknown, where: string): RetryPolicy {
  if (!isPlainObject(value)) {
    throw new InvalidArgumentError(`${where}: "retry" must be an object like { attempts: 3 }`)
  }
  rejectUnknownKeys(value, POLICY_KEYS, `${where}: "retry"`)
  const { attempts, backoff } = value as Partial<RetryPolicy>
  if (typeof attempts !== 'number' || !Number.isSafeInteger(attempts) || attempts < 1) {
    throw new InvalidArgumentError(
      `${where}: "retry.attempts" must be a positive integer (the first attempt included), got ${String(attempts)}`,
    )
  }
  if (backoff !== undefined) {
    if (!isPlainObject(backoff)) {
      throw new InvalidArgumentError(
        `${where}: "retry.backoff" must be an object like { initial: 1000, factor: 2 }`,
      )
    }
    rejectUnknownKeys(backoff, BACKOFF_KEYS, `${where}: "retry.backoff"`)
    const { initial, factor, max, jitter } = backoff as RetryBackoff
    const check = (
      name: keyof RetryBackoff,
      value: unknown,
      ok: (n: number) => boolean,
      rule: string,
    ) => {
      if (value === undefined) return
      if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value)) {
        throw new InvalidArgumentError(
          `${where}: "retry.backoff.${name}" must be ${rule}, got ${String(value)}`,
        )
      }
    }
    check('initial', initial, (n) => n >= 0, 'a finite, non-negative number of milliseconds')
    check('factor', factor, (n) => n >= 1, 'a finite number of at least 1')
    check('max', max, (n) => n >= 0, 'a finite, non-negative number of milliseconds')
    check('jitter', jitter, (n) => n >= 0 && n <= 1, 'a number from 0 to 1')
  }
  return value as RetryPolicy
}

/** Check `step.run`'s third argument where it is given. */
export function validateStepRunOptions(value: unknown, where: string): StepRunOptions {
  if (value === undefined) return {}
  if (!isPlainObject(value)) {
    throw new InvalidArgumentError(`${where}: options must be an object like { retry, timeout }`)
  }
  rejectUnknownKeys(value, STEP_OPTION_KEYS, where)
  const { retry, timeout } = value as StepRunOptions
  if (retry !== undefined) validateRetryPolicy(retry, where)
  if (
    timeout !== undefined &&
    (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0)
  ) {
    throw new InvalidArgumentError(
      `${where}: "timeout" must be a positive, finite number of milliseconds, got ${String(timeout)}`,
    )
  }
  return value as StepRunOptions
}

/** The policy's backoff with the defaults filled in. */
export function backoffOf(policy: RetryPolicy): BackoffPolicy {
  return { ...DEFAULT_RETRY_BACKOFF, ...definedOnly(policy.backoff ?? {}) }
}

function definedOnly(backoff: RetryBackoff): Partial<BackoffPolicy> {
  return Object.fromEntries(Object.entries(backoff).filter(([, value]) => value !== undefined))
}

function isPlainObject(value: unknown): value is object {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
