/**
 * Flow control as users write it on a job: `concurrency`, `throttle`, `debounce`, each with
 * an optional `key` function of the input, and `priority` per trigger. Checked once at
 * definition (or trigger); the database enforces them (store/flow-sql.ts and the families'
 * triggers). Keys are scoped by job name, so two jobs never share a limit by accident.
 */
import { InvalidArgumentError, rejectUnknownKeys, ValidationError } from './errors.js'

export type FlowKey<TInput> = (input: TInput) => string

export interface ConcurrencyOptions<TInput> {
  /** Running runs allowed at once, per key. */
  limit: number
  /** Runs are limited per distinct key; without one, per job. */
  key?: FlowKey<TInput>
}

export interface ThrottleOptions<TInput> {
  /** Starts allowed per `period`, per key. */
  limit: number
  /** Milliseconds. */
  period: number
  key?: FlowKey<TInput>
}

export interface DebounceOptions<TInput> {
  /** Milliseconds of quiet after the last trigger before the run starts. */
  period: number
  key?: FlowKey<TInput>
  /** The start is never pushed later than this many ms after the first trigger. */
  maxWait?: number
}

/** The head start a priority may give or take, in seconds (as Inngest and Trigger.dev). */
export const MAX_PRIORITY = 600

interface FlowDefinition {
  concurrency?: unknown
  throttle?: unknown
  debounce?: unknown
}

/** Check a definition's flow-control options; unknown keys and bad numbers are refused. */
export function validateFlowControl(definition: FlowDefinition, where: string): void {
  const { concurrency, throttle, debounce } = definition
  if (concurrency !== undefined) {
    const options = objectOf(concurrency, 'concurrency', where)
    rejectUnknownKeys(options, ['limit', 'key'], `${where}: concurrency`)
    positiveInteger(options.limit, 'concurrency.limit', where)
    keyFunction(options.key, 'concurrency.key', where)
  }
  if (throttle !== undefined) {
    const options = objectOf(throttle, 'throttle', where)
    rejectUnknownKeys(options, ['limit', 'period', 'key'], `${where}: throttle`)
    positiveInteger(options.limit, 'throttle.limit', where)
    positiveDuration(options.period, 'throttle.period', where)
    keyFunction(options.key, 'throttle.key', where)
  }
  if (debounce !== undefined) {
    const options = objectOf(debounce, 'debounce', where)
    rejectUnknownKeys(options, ['period', 'key', 'maxWait'], `${where}: debounce`)
    positiveDuration(options.period, 'debounce.period', where)
    keyFunction(options.key, 'debounce.key', where)
    if (options.maxWait !== undefined) {
      positiveDuration(options.maxWait, 'debounce.maxWait', where)
      if ((options.maxWait as number) < (options.period as number)) {
        throw new InvalidArgumentError(
          `${where}: debounce.maxWait must be at least debounce.period`,
        )
      }
    }
  }
}

/** Check a trigger's `priority`: an integer number of seconds within ±MAX_PRIORITY. */
export function validatePriority(priority: unknown, subject: string): void {
  if (priority === undefined) return
  if (typeof priority !== 'number' || !Number.isInteger(priority)) {
    throw new ValidationError(`${subject}: priority must be an integer number of seconds`)
  }
  if (Math.abs(priority) > MAX_PRIORITY) {
    throw new ValidationError(
      `${subject}: priority must be between -${MAX_PRIORITY} and ${MAX_PRIORITY} seconds`,
    )
  }
}

/** What flow control a run of a job carries, computed from its (validated) input. */
export interface RunFlow {
  concurrencyKey?: string
  concurrencyLimit?: number
  throttle?: { key: string; limit: number; period: number }
  debounce?: { key: string; period: number; maxWait?: number }
}

export function flowOfRun(
  definition: {
    name: string
    concurrency?: ConcurrencyOptions<never>
    throttle?: ThrottleOptions<never>
    debounce?: DebounceOptions<never>
  },
  input: unknown,
  subject: string,
): RunFlow {
  const flow: RunFlow = {}
  const { concurrency, throttle, debounce } = definition
  if (concurrency) {
    flow.concurrencyKey = scopedKey(definition.name, concurrency.key, input, 'concurrency', subject)
    flow.concurrencyLimit = concurrency.limit
  }
  if (throttle) {
    const key = scopedKey(definition.name, throttle.key, input, 'throttle', subject)
    flow.throttle = { key, limit: throttle.limit, period: throttle.period }
  }
  if (debounce) {
    const key = scopedKey(definition.name, debounce.key, input, 'debounce', subject)
    flow.debounce = { key, period: debounce.period, maxWait: debounce.maxWait }
  }
  return flow
}

/** `job` alone, or `job:key`: readable in `Run.concurrencyKey`, and never shared by two jobs. */
function scopedKey(
  jobName: string,
  key: FlowKey<never> | undefined,
  input: unknown,
  option: string,
  subject: string,
): string {
  if (!key) return jobName
  let value: unknown
  try {
    value = (key as FlowKey<unknown>)(input)
  } catch (error) {
    throw new ValidationError(
      `${subject}: the ${option} key function threw: ${(error as Error)?.message ?? String(error)}`,
    )
  }
  if (typeof value !== 'string' || value.length === 0 || value.length > 1024) {
    throw new ValidationError(
      `${subject}: the ${option} key function must return a non-empty string of at most 1024 characters, got ${
        typeof value === 'string' ? 'an empty or too long string' : typeof value
      }`,
    )
  }
  return `${jobName}:${value}`
}

function objectOf(value: unknown, option: string, where: string): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgumentError(`${where}: "${option}" must be an object`)
  }
  return value as Record<string, unknown>
}

function positiveInteger(value: unknown, option: string, where: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${where}: ${option} must be a positive integer`)
  }
}

function positiveDuration(value: unknown, option: string, where: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(`${where}: ${option} must be a positive number of milliseconds`)
  }
}

function keyFunction(value: unknown, option: string, where: string): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new InvalidArgumentError(`${where}: ${option} must be a function of the input`)
  }
}
