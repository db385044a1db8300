/**
 * The job contract: what a job is (`defineJob`), what its body receives (`StepContext`),
 * and the types of the handles `register` gives back (built in job-handle.ts). Types flow
 * from the job's zod schemas: `trigger` takes the schema's input type, the job body
 * receives its output type, and `getRun` returns `Run<TOutput>`, with no cast at the call site.
 */
import type { ZodType } from 'zod'
import { InvalidArgumentError, rejectUnknownKeys, ValidationError } from './errors.js'
import {
  type ConcurrencyOptions,
  type DebounceOptions,
  type ThrottleOptions,
  validateFlowControl,
  validatePriority,
} from './flow.js'
import { type RetryPolicy, type StepRunOptions, validateRetryPolicy } from './retry-policy.js'
import { type ScheduleDefinition, validateSchedule } from './schedule.js'
import type { Jsonify } from './serialize.js'
import type { Run, RunFilter } from './types.js'
import { assertZod4Schema } from './zod-version.js'

/** What a job body receives: durable steps, progress and logs. */
export interface StepContext {
  /** The id of the run being executed. */
  readonly runId: string
  /** Aborted when the run is cancelled or this worker loses its lease. */
  readonly signal: AbortSignal
  /**
   * This run attempt: 1 for the first, then one more for each retry after the body threw
   * (the job's `retry` policy) and for each takeover after a process died during the run.
   */
  readonly attempt: number
  /**
   * Execute `fn` once and persist its result; on resume, return the recorded result
   * without executing it again. `fn` receives `signal`. The result is the value's JSON round
   * trip (typed `Jsonify<T>`: a Date comes back as its ISO string), the same on replay.
   * With `retry`, a body that throws is tried again after a backoff (`info.attempt` says
   * which try this is); with `timeout`, `signal` aborts and the attempt fails with
   * `TimeoutError` once that many milliseconds have passed.
   */
  run<T>(
    name: string,
    fn: (signal: AbortSignal, info: StepRunInfo) => T | Promise<T>,
    options?: StepRunOptions,
  ): Promise<Jsonify<T>>
  /**
   * Wait `ms` milliseconds without holding a worker: the run is handed back and resumes
   * (replaying its finished steps) once the time has come, in whichever process claims it.
   * Named like a step, and matched on replay by name and occurrence like one.
   */
  sleep(name: string, ms: number): Promise<void>
  /** Like `sleep`, until an instant (a Date or an ISO-8601 string). */
  sleepUntil(name: string, until: Date | string): Promise<void>
  /**
   * Wait, without holding a worker, for an event sent with `durably.sendEvent` (or a signal
   * sent to this run with `durably.signal`) named `event` whose data holds every key of
   * `match` with an equal value; resolves with its data, or `null` after `timeout` ms.
   * An event sent after this run was created and before the wait began is not missed: the
   * wait takes the oldest such event this run has not taken yet.
   * @example const approval = await step.waitForEvent('approval', { event: 'order/approved',
   *   match: { orderId }, timeout: 86_400_000, schema: z.object({ by: z.string() }) })
   */
  waitForEvent<TData = unknown>(
    name: string,
    options: WaitForEventOptions<TData>,
  ): Promise<TData | null>
  /**
   * Run another registered job as a child of this run and wait for it without holding a
   * worker: resolves with the child's output; rejects (failing this step) with the child's
   * error if it fails or is cancelled, with `TimeoutError` after `timeout` ms (the child is
   * then cancelled). The child is created once per step, however often the parent replays.
   */
  invoke<TJob extends InvokableJob>(
    name: string,
    job: TJob,
    input: InvokeInput<TJob>,
    options?: InvokeOptions,
  ): Promise<Jsonify<InvokeOutput<TJob>>>
  /** Report progress; persisted in order, coalesced when reported faster than it is written. */
  progress(current: number, total?: number, message?: string): void
  log: {
    info(message: string, data?: unknown): void
    warn(message: string, data?: unknown): void
    error(message: string, data?: unknown): void
  }
}

/** What a step body is told besides its signal. */
export interface StepRunInfo {
  /** This try of the step's body: 1, then 2… when its `retry` policy tries again. */
  attempt: number
}

export interface WaitForEventOptions<TData = unknown> {
  /** The event's name, as given to `sendEvent` (or to `signal` for this run). */
  event: string
  /** Only events whose data has these values at these top-level keys (compared as JSON). */
  match?: Record<string, unknown>
  /** Resolve with `null` once this many milliseconds have passed without a matching event. */
  timeout?: number
  /** Validate (and type) the event's data; a mismatch fails the wait with `ValidationError`. */
  schema?: ZodType<TData, unknown>
}

export interface InvokeOptions {
  /** Fail the step with `TimeoutError`, and cancel the child, after this many milliseconds. */
  timeout?: number
}

/** What `step.invoke` accepts: a job definition or the handle `register` returned for it. */
export type InvokableJob = { readonly name: string }

export type InvokeInput<TJob> = TJob extends { input: ZodType<unknown, infer TTriggerInput> }
  ? TTriggerInput
  : TJob extends { trigger(input: infer TInput, ...rest: never[]): unknown }
    ? TInput
    : unknown

export type InvokeOutput<TJob> = TJob extends {
  run: (...args: never[]) => Promise<infer TOutput>
}
  ? TOutput
  : TJob extends { getRun(id: string): Promise<Run<infer TOutput> | null> }
    ? TOutput
    : unknown

export interface JobDefinition<
  TName extends string = string,
  TInput = unknown,
  TOutput = unknown,
  TTriggerInput = TInput,
> {
  name: TName
  input: ZodType<TInput, TTriggerInput>
  output?: ZodType<TOutput, unknown>
  run: (step: StepContext, payload: TInput) => Promise<TOutput>
  /**
   * Run on a cron schedule: each tick creates one run with `input` (default `{}`), once
   * however many processes or tabs run workers.
   * @example schedule: { cron: '0 3 * * *', timezone: 'Europe/Berlin', input: { full: true } }
   */
  schedule?: ScheduleDefinition<TTriggerInput>
  /** Retry a run whose body throws, with backoff; finished steps are never re-run. */
  retry?: RetryPolicy
  /** At most `limit` running runs (per `key` of the input), across every process. */
  concurrency?: ConcurrencyOptions<TInput>
  /** At most `limit` starts per `period` ms (per `key`); excess runs wait for their slot. */
  throttle?: ThrottleOptions<TInput>
  /** A trigger within `period` ms of a pending run with the same key replaces its input. */
  debounce?: DebounceOptions<TInput>
}

/** Any job definition, whatever its types (what `register` accepts). */
export interface AnyJobDefinition {
  name: string
  input: ZodType<unknown, unknown>
  output?: ZodType<unknown, unknown>
  run: (step: StepContext, payload: never) => Promise<unknown>
  schedule?: ScheduleDefinition<unknown>
  retry?: RetryPolicy
  concurrency?: ConcurrencyOptions<never>
  throttle?: ThrottleOptions<never>
  debounce?: DebounceOptions<never>
}

export interface TriggerOptions {
  /** A second trigger of the same job with the same key returns the first run. */
  idempotencyKey?: string
  /** Runs sharing a key never run at the same time, across all workers and processes. */
  concurrencyKey?: string
  /** `triggerAndWait` only: reject after this many milliseconds (the run continues). */
  timeout?: number
  /** Start no sooner than this many milliseconds from now (the run waits without a worker). */
  delay?: number
  /** Start no sooner than this instant (a Date or an ISO-8601 string). */
  runAt?: Date | string
  /**
   * A head start in seconds (-600…600) among runs ready to start: a run with priority 60 is
   * claimed as if it had become due a minute earlier. Low priorities are delayed, never starved.
   */
  priority?: number
}

const TRIGGER_OPTION_KEYS = [
  'idempotencyKey',
  'concurrencyKey',
  'timeout',
  'delay',
  'runAt',
  'priority',
] as const satisfies readonly (keyof TriggerOptions)[]

export type BatchTriggerInput<TInput> = TInput | { input: TInput; options?: TriggerOptions }

export interface JobHandle<TName extends string = string, TInput = unknown, TOutput = unknown> {
  name: TName
  /** The job's input schema (the dashboard builds its trigger form from it). */
  readonly input: ZodType<unknown, unknown>
  trigger(input: TInput, options?: TriggerOptions): Promise<Run<TOutput>>
  /** Resolves when the run completes; rejects on failure, cancellation or `timeout`. */
  triggerAndWait(input: TInput, options?: TriggerOptions): Promise<{ id: string; output: TOutput }>
  /** All inputs are validated first; then every run is stored in one statement, or none. */
  batchTrigger(inputs: BatchTriggerInput<TInput>[]): Promise<Run<TOutput>[]>
  getRun(id: string): Promise<Run<TOutput> | null>
  getRuns(filter?: Omit<RunFilter, 'jobName'>): Promise<Run<TOutput>[]>
}

export type HandleOf<D> =
  D extends JobDefinition<infer TName, unknown, infer TOutput, infer TTriggerInput>
    ? JobHandle<TName, TTriggerInput, TOutput>
    : D extends {
          name: infer TName extends string
          input: ZodType<unknown, infer TTriggerInput>
          run: (...args: never[]) => Promise<infer TOutput>
        }
      ? JobHandle<TName, TTriggerInput, TOutput>
      : never

export type HandlesOf<T extends Record<string, AnyJobDefinition>> = {
  [K in keyof T]: HandleOf<T[K]>
}

/**
 * Define a job: a name, a zod schema for its input (and optionally its output), and a body
 * made of durable steps.
 *
 * @example
 * const sendReport = defineJob({
 *   name: 'send-report',
 *   input: z.object({ userId: z.string() }),
 *   run: async (step, { userId }) => {
 *     const report = await step.run('build', () => buildReport(userId))
 *     await step.run('send', () => mail(userId, report))
 *     return { size: report.length }
 *   },
 * })
 */
export function defineJob<TName extends string, TInput, TOutput, TTriggerInput = TInput>(
  definition: JobDefinition<TName, TInput, TOutput, TTriggerInput>,
): JobDefinition<TName, TInput, TOutput, TTriggerInput> {
  assertJobDefinition(definition, 'defineJob')
  const schedule = definition.schedule
    ? (validateSchedule(
        definition.schedule,
        `defineJob("${definition.name}")`,
      ) as ScheduleDefinition<TTriggerInput>)
    : undefined
  return Object.freeze({ ...definition, ...(schedule ? { schedule } : {}) })
}

export function assertJobDefinition(
  value: unknown,
  where: string,
): asserts value is AnyJobDefinition {
  const candidate = value as Partial<AnyJobDefinition> | null
  if (!candidate || typeof candidate !== 'object') {
    throw new InvalidArgumentError(
      `${where}: expected a job definition object, got ${describe(value)}`,
    )
  }
  if (typeof candidate.name !== 'string' || candidate.name.trim() === '') {
    throw new InvalidArgumentError(`${where}: a job needs a non-empty string "name"`)
  }
  // Before the shape checks: a zod 3 schema has their shape, and is refused by its version.
  assertZod4Schema(candidate.input, `${where}: job "${candidate.name}": "input"`)
  assertZod4Schema(candidate.output, `${where}: job "${candidate.name}": "output"`)
  if (!isSchema(candidate.input)) {
    throw new InvalidArgumentError(`${where}: job "${candidate.name}" needs an "input" zod schema`)
  }
  if (candidate.output !== undefined && !isSchema(candidate.output)) {
    throw new InvalidArgumentError(
      `${where}: job "${candidate.name}" has an "output" that is not a zod schema`,
    )
  }
  if (typeof candidate.run !== 'function') {
    throw new InvalidArgumentError(`${where}: job "${candidate.name}" needs a "run" function`)
  }
  rejectUnknownKeys(candidate, JOB_DEFINITION_KEYS, `${where}: job "${candidate.name}"`)
  if (candidate.schedule !== undefined) {
    validateSchedule(candidate.schedule, `${where}: job "${candidate.name}"`)
  }
  if (candidate.retry !== undefined) {
    validateRetryPolicy(candidate.retry, `${where}: job "${candidate.name}"`)
  }
  validateFlowControl(candidate, `${where}: job "${candidate.name}"`)
}

const JOB_DEFINITION_KEYS = [
  'name',
  'input',
  'output',
  'run',
  'schedule',
  'retry',
  'concurrency',
  'throttle',
  'debounce',
] as const satisfies readonly (keyof AnyJobDefinition)[]

function isSchema(value: unknown): boolean {
  return !!value && typeof (value as { safeParseAsync?: unknown }).safeParseAsync === 'function'
}

function describe(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value
}

/** Validate with a job's schema; failures become a `ValidationError` carrying zod's issues. */
export async function parseWithSchema(
  schema: ZodType<unknown, unknown>,
  value: unknown,
  subject: string,
): Promise<unknown> {
  const result = await schema.safeParseAsync(value)
  if (result.success) return result.data
  const issues = result.error.issues.map((issue) => ({
    path: [...issue.path],
    message: issue.message,
    code: issue.code,
  }))
  const summary = issues
    .slice(0, 3)
    .map((issue) =>
      issue.path.length ? `${issue.path.map(String).join('.')}: ${issue.message}` : issue.message,
    )
    .join('; ')
  return Promise.reject(new ValidationError(`${subject} is invalid: ${summary}`, issues))
}

/** Tell the `{ input, options }` form of a batch item from a bare input. */
export function splitBatchItem<TInput>(item: BatchTriggerInput<TInput>): {
  input: TInput
  options: TriggerOptions
} {
  if (
    item !== null &&
    typeof item === 'object' &&
    !Array.isArray(item) &&
    Object.hasOwn(item, 'input')
  ) {
    const keys = Object.keys(item)
    if (keys.every((key) => key === 'input' || key === 'options')) {
      const wrapped = item as { input: TInput; options?: TriggerOptions }
      return { input: wrapped.input, options: wrapped.options ?? {} }
    }
  }
  return { input: item as TInput, options: {} }
}

export function validateTriggerOptions(options: unknown, subject: string): TriggerOptions {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new ValidationError(`${subject}: options must be an object`)
  }
  rejectUnknownKeys(options, TRIGGER_OPTION_KEYS, subject, ValidationError)
  const { idempotencyKey, concurrencyKey, timeout } = options as Record<string, unknown>
  for (const [name, value] of [
    ['idempotencyKey', idempotencyKey],
    ['concurrencyKey', concurrencyKey],
  ] as const) {
    if (
      value !== undefined &&
      (typeof value !== 'string' || value.length === 0 || value.length > 1024)
    ) {
      throw new ValidationError(
        `${subject}: ${name} must be a non-empty string of at most 1024 characters`,
      )
    }
  }
  if (
    timeout !== undefined &&
    (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0)
  ) {
    throw new ValidationError(`${subject}: timeout must be a positive number of milliseconds`)
  }
  startOf(options as TriggerOptions, 0, subject)
  validatePriority((options as TriggerOptions).priority, subject)
  return options as TriggerOptions
}

/**
 * When a triggered run may start, from its `delay` or `runAt` (checked here, so bad values
 * are refused before anything is stored): `undefined` when it may start at once.
 */
export function startOf(options: TriggerOptions, now: number, subject: string): number | undefined {
  const { delay, runAt } = options
  if (delay !== undefined && runAt !== undefined) {
    throw new ValidationError(`${subject}: give delay or runAt, not both`)
  }
  if (delay !== undefined) {
    if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0) {
      throw new ValidationError(
        `${subject}: delay must be a finite, non-negative number of milliseconds, got ${String(delay)}`,
      )
    }
    return delay === 0 ? undefined : now + delay
  }
  if (runAt !== undefined) {
    const at =
      runAt instanceof Date
        ? runAt.getTime()
        : typeof runAt === 'string'
          ? Date.parse(runAt)
          : Number.NaN
    if (Number.isNaN(at)) {
      throw new ValidationError(
        `${subject}: runAt must be a Date or an ISO-8601 string, got ${JSON.stringify(runAt) ?? String(runAt)}`,
      )
    }
    return at
  }
  return undefined
}
