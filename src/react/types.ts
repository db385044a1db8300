/**
 * The hooks' types. `createDurablyHooks<typeof jobs>` is typed by the server's jobs without
 * code generation: `typeof jobs` may be the object given to `register` (definitions), the
 * handles `register` returned (`typeof durably.jobs`), or the instance itself. Only types
 * cross from the server's module into the page's bundle.
 */
import type {
  AnyJobDefinition,
  HandleOf,
  JobHandle,
  LogLevel,
  Progress,
  Run,
  RunStatus,
  TriggerOptions,
} from '../index.js'
import type { DurablyClientError } from './errors.js'

type AnyHandle = JobHandle<string, never, unknown>

/** Jobs by key: definitions or handles; an instance stands for its `.jobs`. */
type JobsOf<T> = T extends { jobs: infer J extends object } ? J : T

type HandleOfEntry<E> = E extends AnyHandle ? E : E extends AnyJobDefinition ? HandleOf<E> : never

/** Every job of `T` as its handle type. */
export type JobHandles<T> = {
  [K in keyof JobsOf<T>]: HandleOfEntry<JobsOf<T>[K]>
}[keyof JobsOf<T>]

/** What the hooks are typed by when no jobs are given: any job name, unknown input and output. */
export type AnyJobs = Record<string, JobHandle<string, unknown, unknown>>

/** The job names of `T`: what `useJob` and `useRuns({ jobName })` take. */
export type JobName<T> = JobHandles<T> extends { name: infer N extends string } ? N : never

/** The handle named `N`; a handle named by `string` alone (untyped jobs) answers to any name. */
type HandleNamed<T, N extends string> = Named<JobHandles<T>, N>
type Named<H, N extends string> = H extends { name: infer M } ? (N extends M ? H : never) : never

/** What `trigger` takes for job `N`: its input schema's input type. */
export type JobInput<T, N extends string> = Parameters<HandleNamed<T, N>['trigger']>[0]

/** What a completed run of job `N` holds as `output`. */
export type JobOutput<T, N extends string> =
  HandleNamed<T, N> extends JobHandle<string, never, infer O> ? O : unknown

/** The trigger options that travel over HTTP (`timeout` belongs to `triggerAndWait` on a server). */
export type HookTriggerOptions = Pick<
  TriggerOptions,
  'idempotencyKey' | 'concurrencyKey' | 'delay' | 'runAt' | 'priority'
>

/** A log line of a run, as its `log:write` event carried it. */
export interface RunLog {
  level: LogLevel
  message: string
  data: unknown
  stepName: string | null
  timestamp: string
}

/** A run as a hook shows it: the last snapshot, brought forward by the run's events. */
export interface RunView<TOutput = unknown> {
  /** The run as last read and updated by its events; null before the first read. */
  run: Run<TOutput> | null
  status: RunStatus | null
  progress: Progress | null
  /** The output once completed; null before. */
  output: TOutput | null
  /** Why the run failed; null unless it did. */
  error: string | null
  /** Log lines written since this page began to follow the run. */
  logs: RunLog[]
  /** Not settled yet: pending (queued, delayed, sleeping) or running. */
  isRunning: boolean
  /** Completed, failed or cancelled. */
  isTerminal: boolean
  /** Following a run whose first read has not arrived. */
  isLoading: boolean
  /** Why reading or following the run failed (an unknown run, a refusal, the network). */
  requestError: DurablyClientError | null
}

export interface JobState<TInput, TOutput> extends Omit<RunView<TOutput>, 'isRunning'> {
  /** Trigger a run and follow it; resolves with its id, rejects if the trigger is refused. */
  trigger(input: TInput, options?: HookTriggerOptions): Promise<{ runId: string }>
  /** Trigger, follow, and resolve with the output once completed; rejects if it fails or is cancelled. */
  triggerAndWait(
    input: TInput,
    options?: HookTriggerOptions,
  ): Promise<{ runId: string; output: TOutput }>
  /** The run this hook follows: the last one triggered; null before and after `reset`. */
  runId: string | null
  /** A trigger is on its way, or its run has not settled. */
  isRunning: boolean
  /** Forget the run followed (it goes on): back to the state before any trigger. */
  reset(): void
}

export interface RunsFilter<N extends string = string> {
  status?: RunStatus
  jobName?: N
  limit?: number
  offset?: number
}

export interface RunsState<TOutput = unknown> {
  /** Newest first, as `durably.getRuns` returns them; kept current by the run events. */
  runs: Run<TOutput>[]
  /** The first read has not arrived. */
  isLoading: boolean
  requestError: DurablyClientError | null
  /** Read the list again now. */
  refresh(): void
}

export interface RunActions {
  /** A failed or cancelled run goes back to pending. */
  retry(runId: string): Promise<void>
  /** A pending run never starts; a running one stops at its next step boundary. */
  cancel(runId: string): Promise<void>
  /** Delete a finished run with its steps and logs. */
  deleteRun(runId: string): Promise<void>
}

/**
 * Sends a signal to one run: completes its durable wait for `name` with `data` (which the
 * server requires: send `{}` for none). `id` makes a repeated send (a retried click) count once.
 */
export type SendSignal = (data: unknown, options?: { id?: string }) => Promise<void>
