/** The shapes durably stores and returns. Timestamps are ISO-8601 strings. */

/** Every status a run can have: the one list, from which the type and the checks derive. */
export const RUN_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const

export type RunStatus = (typeof RUN_STATUSES)[number]

/** A run in one of these never changes again (unless `retry()` sends it back). */
export const TERMINAL_STATUSES = [
  'completed',
  'failed',
  'cancelled',
] as const satisfies readonly RunStatus[]

export type TerminalStatus = (typeof TERMINAL_STATUSES)[number]

export function isRunStatus(value: unknown): value is RunStatus {
  return (RUN_STATUSES as readonly unknown[]).includes(value)
}

export function isTerminal(status: RunStatus): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly RunStatus[]).includes(status)
}

/**
 * Why a pending run is not claimable yet: a time (a delayed start, a sleep), an event or
 * signal, or a child run. `until` is the time it resumes anyway (a timeout); a wait without
 * one has none. `null` on a run means it waits only for a free worker.
 */
export type WaitingFor =
  | { kind: 'delay'; until: string }
  | { kind: 'sleep'; until: string; step: string }
  | {
      kind: 'event'
      step: string
      stepIndex: number
      event: string
      match?: Record<string, unknown>
      until?: string
    }
  | {
      kind: 'child'
      step: string
      stepIndex: number
      runId: string
      jobName: string
      until?: string
    }
  | {
      /**
       * A backoff before trying again: the run's body (no `step`) or one step's body threw.
       * `attempt` is the attempt that runs next; `error` is why the last one failed.
       */
      kind: 'retry'
      attempt: number
      until: string
      error: string
      step?: string
      stepIndex?: number
    }
  /** Its throttle key's start slots are all taken until `until`. */
  | { kind: 'throttle'; key: string; until: string }
  /** Debounced: it starts at `until` unless another trigger with its key comes first. */
  | { kind: 'debounce'; key: string; until: string; latest?: string }

export const WAIT_KINDS = [
  'delay',
  'sleep',
  'event',
  'child',
  'retry',
  'throttle',
  'debounce',
] as const satisfies readonly WaitingFor['kind'][]

/**
 * Why a pending run is not running now (`getRun(id).blockedBy`); null when it only waits for
 * a free worker slot, or is not pending.
 */
export type BlockedBy =
  /** Its concurrency key has `running` runs of `limit` already. */
  | { reason: 'concurrency'; key: string; limit: number; running: number }
  /** Its throttle key's starts are used up until `until`. */
  | { reason: 'throttle'; key: string; until: string }
  /** Debounced: it starts at `until` unless another trigger with its key comes first. */
  | { reason: 'debounce'; key: string; until: string }
  /** Triggered with `delay` or `runAt`: it starts at `until`. */
  | { reason: 'delay'; until: string }
  /** In a wait (`kind`: sleep, event, child, retry): resumes by `until` at the latest, if set. */
  | { reason: 'wait'; kind: WaitingFor['kind']; until: string | null }
  /** Ready, but no worker has registered its job lately (`lastSeenAt`: when one last did). */
  | { reason: 'no-worker'; jobName: string; lastSeenAt: string | null }

export interface Progress {
  current: number
  total?: number
  message?: string
}

export interface Run<TOutput = unknown> {
  id: string
  jobName: string
  status: RunStatus
  payload: unknown
  /** The job's output once completed; null before (and for a job that returns nothing). */
  output: TOutput | null
  /** Why the run failed; null unless it did. */
  error: string | null
  /** The last progress a step reported; null until one does. */
  progress: Progress | null
  idempotencyKey: string | null
  concurrencyKey: string | null
  /**
   * The earliest moment a pending run may be claimed (its creation, a delay, a sleep's end,
   * a wait's timeout); null for a wait that has no timeout.
   */
  availableAt: string | null
  /** What a pending run waits for besides a worker; null when nothing. */
  waitingFor: WaitingFor | null
  /** The run whose `step.invoke` created this one; null for a run triggered otherwise. */
  parentRunId: string | null
  /**
   * Run attempts begun: 0 before the first start, 1 during it; each retry after a failure,
   * and each takeover of a run whose process died, begins another. Resuming a wait does not.
   */
  attempt: number
  /**
   * Why a pending run is not running now: set by `getRun` (and `GET /run`), absent from
   * lists; null when it only waits for a free worker slot, or is not pending.
   */
  blockedBy?: BlockedBy | null
  /** Index the next new step will get: the number of completed steps. */
  currentStepIndex: number
  /** Number of completed steps. */
  stepCount: number
  heartbeatAt: string | null
  startedAt: string | null
  completedAt: string | null
  createdAt: string
  updatedAt: string
}

export type StepStatus = 'completed' | 'failed'

export interface Step {
  id: string
  runId: string
  name: string
  index: number
  status: StepStatus
  /** What the step returned (null for nothing), as replay returns it. */
  output: unknown
  /** Why the step failed; null unless it did. */
  error: string | null
  startedAt: string
  completedAt: string
  /**
   * Every attempt of a step run with a `retry` or `timeout` option, oldest first (absent for
   * other steps, which have one attempt and no record of it).
   */
  attempts?: StepAttempt[]
}

/** One try of a step's body. */
export interface StepAttempt {
  /** 1 for the first try; counted again from 1 after the step is recorded as failed. */
  attempt: number
  /** Why it failed; null if it succeeded, or if its process ended during it. */
  error: string | null
  startedAt: string
  /** Null when the process ended during it (a crash counts as an attempt). */
  endedAt: string | null
}

/**
 * One recorded attempt: of the run itself (`stepIndex` null; kept when it failed) or of a
 * step run with `retry` or `timeout`.
 */
export interface Attempt extends StepAttempt {
  runId: string
  stepIndex: number | null
  stepName: string | null
}

export type LogLevel = 'info' | 'warn' | 'error'

export interface Log {
  id: string
  runId: string
  stepName: string | null
  level: LogLevel
  message: string
  /** The data logged with the message; null when none was. */
  data: unknown
  createdAt: string
}

export interface RunFilter {
  status?: RunStatus
  jobName?: string
  /** Only the children `step.invoke` created for this run. */
  parentRunId?: string
  limit?: number
  offset?: number
}
