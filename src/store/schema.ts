/**
 * Table types, as Kysely sees them. Column names are snake_case and stable: code written
 * against the original package reads these tables directly through `durably.db`.
 * Timestamps are ISO-8601 text and JSON columns hold JSON text on SQLite; on PostgreSQL
 * they are `timestamptz` and `json`, and the driver hands back `Date`s and parsed values,
 * which is why the column types below admit both.
 */
import { sql } from 'kysely'
import type { LogLevel, RunStatus, StepStatus } from '../types.js'

export type Timestamp = string | Date
export type JsonColumn = unknown

export interface DurablyRunsTable {
  id: string
  job_name: string
  payload: JsonColumn
  status: RunStatus
  idempotency_key: string | null
  concurrency_key: string | null
  progress: JsonColumn | null
  output: JsonColumn | null
  error: string | null
  lease_owner: string | null
  lease_generation: number
  heartbeat_at: Timestamp | null
  /** When a pending run becomes claimable; the claim walks pending runs in this order. */
  available_at: Timestamp | null
  /**
   * JSON `WaitingFor`: why a pending run is not claimable yet, or null. A claim leaves it in
   * place, so the execution learns which wait it resumes (and that wait's deadline).
   */
  wait_for: JsonColumn | null
  /** The event a pending run waits for (its broadcast wake-ups are found by this and…) */
  wait_event: string | null
  /** …the correlation of its `match`: the JSON array of the matched values, keys sorted. */
  wait_correlation: string | null
  /** The run whose `step.invoke` created this one. */
  parent_run_id: string | null
  started_at: Timestamp | null
  completed_at: Timestamp | null
  created_at: Timestamp
  updated_at: Timestamp
  /** Seconds of head start among claimable runs (NULL = 0). */
  priority: number | null
  /** `available_at` minus the head start, kept by the database where `priority` is set. */
  claim_rank?: Timestamp | null
  /** Running runs allowed per `concurrency_key` (NULL = 1, the spec's `concurrencyKey`). */
  concurrency_limit: number | null
  /** The slot (0 … limit − 1) this run holds among its key's running runs. */
  concurrency_slot: number | null
  /** Where `available_at` was when the run was parked behind a full key; NULL when not parked. */
  parked_from: Timestamp | null
  throttle_key: string | null
  throttle_limit: number | null
  /** Milliseconds. */
  throttle_period: number | null
  debounce_key: string | null
  /** Run attempts begun (NULL = none yet). */
  attempt: number | null
  /** The trace context active at trigger time (W3C `traceparent`/`tracestate`), if any. */
  trace_context: JsonColumn | null
}

export interface DurablyStepsTable {
  id: string
  run_id: string
  name: string
  step_index: number
  status: StepStatus
  output: JsonColumn | null
  error: string | null
  started_at: Timestamp
  completed_at: Timestamp
}

export interface DurablyLogsTable {
  id: string
  run_id: string
  step_name: string | null
  level: LogLevel
  message: string
  data: JsonColumn | null
  created_at: Timestamp
}

/** Events and signals (`target_run_id` set), kept for waits that start after they were sent. */
export interface DurablyEventsTable {
  id: string
  name: string
  data: JsonColumn
  target_run_id: string | null
  created_at: Timestamp
}

/**
 * Which key sets (`JSON` arrays of sorted `match` keys) runs have waited on per event name:
 * a handful per name, so `sendEvent` computes one correlation per set and wakes the waiting
 * runs through an index, however many wait.
 */
export interface DurablyEventKeysTable {
  event_name: string
  keys: string
}

/** The last `throttle_limit` starts of a throttle key, each as the moment its slot frees. */
export interface DurablyThrottleSlotsTable {
  throttle_key: string
  slot: number
  free_at: Timestamp
}

/** The jobs some worker registered, and when it last said so. */
export interface DurablyWorkersTable {
  job_name: string
  seen_at: Timestamp
}

/** One attempt of a run (`step_index` NULL) or of a step with a retry policy. */
export interface DurablyAttemptsTable {
  id: string
  run_id: string
  step_index: number | null
  step_name: string | null
  attempt: number
  error: string | null
  started_at: Timestamp
  ended_at: Timestamp | null
}

export interface DurablySchemaVersionsTable {
  version: number
  applied_at: Timestamp
}

export interface Database {
  durably_runs: DurablyRunsTable
  durably_steps: DurablyStepsTable
  durably_logs: DurablyLogsTable
  durably_events: DurablyEventsTable
  durably_event_keys: DurablyEventKeysTable
  durably_throttle_slots: DurablyThrottleSlotsTable
  durably_workers: DurablyWorkersTable
  durably_attempts: DurablyAttemptsTable
  durably_schema_versions: DurablySchemaVersionsTable
}

/** The names the original package gave the table types. */
export type RunsTable = DurablyRunsTable
export type StepsTable = DurablyStepsTable
export type LogsTable = DurablyLogsTable
export type SchemaVersionsTable = DurablySchemaVersionsTable

export type RunRow = DurablyRunsTable

/** A run that stops waiting (it ends, is handed back, cancelled or retried) forgets its wait. */
export const NO_WAIT = {
  wait_for: null,
  wait_event: null,
  wait_correlation: null,
  parked_from: null,
} as const satisfies Partial<RunRow>
/**
 * Set by every write that may end a keyed run's time in `running`: it wakes the runs parked
 * behind its key (see `Lease.keyed`). Setting a column to itself changes nothing else.
 */
export const FREES_SLOT = { concurrency_limit: sql<number | null>`concurrency_limit` } as const

/** What a claim reads back: only what starting the execution needs, the payload as JSON text. */
export type ClaimedRow = Pick<
  RunRow,
  | 'id'
  | 'job_name'
  | 'payload'
  | 'lease_generation'
  | 'idempotency_key'
  | 'wait_for'
  | 'attempt'
  // What flow control needs after a start (SQLite parks in a follow-up statement).
  | 'concurrency_key'
  | 'concurrency_limit'
  | 'throttle_key'
  | 'throttle_limit'
  | 'throttle_period'
  | 'started_at'
>
export type StepRow = DurablyStepsTable
export type LogRow = DurablyLogsTable
