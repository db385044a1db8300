/**
 * The job contract: what a job is (`defineJob`), what its body receives (`StepContext`),
 * and the types of the handles `register` gives back (built in job-handle.ts). Types flow
 * from the job's zod schemas: `trigger` takes the schema's input type, the job body
 * receives its output type, and `getRun` returns `Run<TOutput>`, with no cast at the call site.
 */
import type { ZodType } from 'zod'
import { InvalidArgumentError, ValidationError } from './errors.js'
import type { Run, RunFilter } from './types.js'

/** What a job body receives: durable steps, progress and logs. */
export interface StepContext {
  /** The id of the run being executed. */
  readonly runId: string
  /** Aborted when the run is cancelled or this worker loses its lease. */
  readonly signal: AbortSignal
  /**
   * Execute `fn` once and persist its result; on resume, return the recorded result
   * without executing it again. `fn` receives `signal`.
   */
  run<T>(name: string, fn: (signal: AbortSignal) => T | Promise<T>): Promise<T>
  /** Report progress; persisted in order, coalesced when reported faster than it is written. */
  progress(current: number, total?: number, message?: string): void
  log: {
    info(message: string, data?: unknown): void
    warn(message: string, data?: unknown): void
    error(message: string, data?: unknown): void
  }
}

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
}

/** Any job definition, whatever its types (what `register` accepts). */
export interface AnyJobDefinition {
  name: string
  input: ZodType<unknown, unknown>
  output?: ZodType<unknown, unknown>
  run: (step: StepContext, payload: never) => Promise<unknown>
}

export interface TriggerOptions {
  /** A second trigger of the same job with the same key returns the first run. */
  idempotencyKey?: string
  /** Runs sharing a key never run at the same time, across all workers and processes. */
  concurrencyKey?: string
  /** `triggerAndWait` only: reject after this many milliseconds (the run continues). */
  timeout?: number
}

const TRIGGER_OPTION_KEYS = [
  'idempotencyKey',
  'concurrencyKey',
  'timeout',
] as const satisfies readonly (keyof TriggerOptions)[]

export type BatchTriggerInput<TInput> = TInput | { input: TInput; options?: TriggerOptions }

export interface JobHandle<TName extends string = string, TInput = unknown, TOutput = unknown> {
  name: TName
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
  return Object.freeze({ ...definition })
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
}

const JOB_DEFINITION_KEYS = [
  'name',
  'input',
  'output',
  'run',
] as const satisfies readonly (keyof AnyJobDefinition)[]

/** A key we do not know is a mistake (a typo such as `retires`), never silently ignored. */
export function rejectUnknownKeys(
  value: object,
  known: readonly string[],
  subject: string,
  ErrorClass: new (message: string) => Error = InvalidArgumentError,
): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new ErrorClass(`${subject}: unknown option "${key}" (known: ${known.join(', ')})`)
    }
  }
}

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
  return options as TriggerOptions
}
