/**
 * The one storage contract. Everything above the store speaks in these methods; only the
 * store and its per-family files write SQL.
 *
 * Methods that take a `Lease` are fenced: they change nothing and answer `false` unless the
 * run is still `running` under that exact lease generation. That single conditional write
 * is how an execution learns it was cancelled or recovered elsewhere, without a read per step.
 */
import type {
  Attempt,
  BlockedBy,
  Log,
  LogLevel,
  Progress,
  Run,
  RunFilter,
  Step,
  StepStatus,
  TerminalStatus,
  WaitingFor,
} from '../types.js'

export interface Lease {
  runId: string
  generation: number
  /**
   * The run holds a concurrency slot: the write that ends its run of `running` also wakes
   * runs parked behind its key (on SQLite, by setting `concurrency_limit`, which only such
   * writes touch, so no other write compiles that trigger).
   */
  keyed?: boolean
}

/**
 * A stored JSON value read back: its value, or why it could not be read (a corrupted row
 * must not make listing impossible, and must fail the run that needs it, clearly).
 */
export type Decoded<T = unknown> = { ok: true; value: T } | { ok: false; problem: string }

export interface ClaimedRun {
  run: Pick<Run, 'id' | 'jobName' | 'idempotencyKey'>
  lease: Lease
  payload: Decoded
  /** The wait the run was suspended in, if any: a wait resumed keeps its first deadline. */
  resumedWait: WaitingFor | null
  /** The run attempt this execution belongs to (1 for the first). */
  attempt: number
}

/** A finished step as replay sees it. */
export interface RecordedStep {
  name: string
  index: number
  output: Decoded
}

export interface NewRun {
  id: string
  jobName: string
  /** JSON text. */
  payload: string
  idempotencyKey: string | null
  concurrencyKey: string | null
  createdAt: string
  /** When it may first be claimed: `createdAt`, or later for a delayed start. */
  availableAt: string
  /** JSON `WaitingFor`, or null when it waits for nothing but a worker. */
  waitingFor: string | null
  /** The run whose `step.invoke` created this one. */
  parentRunId: string | null
  /** Seconds of head start among claimable runs (absent = 0). */
  priority?: number
  /** Running runs allowed per `concurrencyKey` (absent = 1). */
  concurrencyLimit?: number
  /** At most `limit` starts per `period` ms among runs sharing `key`. */
  throttle?: { key: string; limit: number; period: number }
  /** JSON text: the trace context active at trigger time. */
  traceContext?: string | null
  /** Debounced: a pending, unstarted run with this key takes this one's input instead. */
  debounce?: { key: string; latest: string | null }
}

export interface CreatedRun {
  run: Run
  /** `false` when an existing run with the same idempotency key was returned instead. */
  created: boolean
}

export interface NewStep {
  id: string
  runId: string
  name: string
  index: number
  status: StepStatus
  /** JSON text, or null for `undefined`. */
  output: string | null
  error: string | null
  startedAt: string
  completedAt: string
}

export interface Suspension {
  /** The wait's step row, on the first execution that reaches it; absent on replay. */
  step?: NewStep
  /** When the run becomes claimable if nothing wakes it sooner (a time, a timeout, never). */
  availableAt: string
  /** JSON `WaitingFor`. */
  waitingFor: string
  now: string
  /**
   * What wakes the run before `availableAt`. It is checked in the suspending write itself
   * (an event already sent, a child already finished makes the run claimable `now`), and the
   * write that would satisfy it later wakes the run: no wake-up falls between the two.
   */
  condition?: WakeCondition
}

/** A step attempt about to begin: the store numbers it. */
export interface NewStepAttempt {
  id: string
  runId: string
  stepIndex: number
  stepName: string
  startedAt: string
  /** Begin nothing past this attempt number (the policy's `attempts`). */
  limit: number
}

/** A run attempt that failed, kept for its error. */
export interface FailedRunAttempt {
  id: string
  runId: string
  attempt: number
  error: string
  startedAt: string
  endedAt: string
}

/** An available-at of "never": a wait without a timeout is woken only by what it waits for. */
export const NEVER = '9999-12-31T23:59:59.999Z'

/** Which events a wait takes: by name, `match` compared as a correlation, each at most once. */
export interface EventQuery {
  event: string
  /** JSON array of the sorted `match` keys. */
  keys: string
  /** JSON object: the `match`. */
  match: string
  /** Ids of events this run has already taken (a run takes an event once). */
  consumed: readonly string[]
}

export type WakeCondition = ({ kind: 'event' } & EventQuery) | { kind: 'child'; childRunId: string }

/** An event as a wait receives it. */
export interface StoredEvent {
  id: string
  name: string
  data: Decoded
  sentAt: string
}

export interface NewEvent {
  id: string
  name: string
  /** JSON text. */
  data: string
  /** Set for a signal: only this run may take it. */
  targetRunId: string | null
  createdAt: string
}

export interface NewLog {
  id: string
  runId: string
  stepName: string | null
  level: LogLevel
  message: string
  /** JSON text, or null. */
  data: string | null
  createdAt: string
}

/** Which owners were alive, observed no later than `observedAt`. */
export interface LivenessSnapshot {
  aliveOwners: readonly string[]
  /**
   * Only runs whose heartbeat is older than this may be judged by the snapshot: a worker that
   * started after it is missing from `aliveOwners` but has heartbeats newer than this.
   */
  observedAt: string
}

export interface ClaimRequest {
  /** Identifies the claiming worker; stored as the lease owner. */
  owner: string
  /** Only runs of these jobs are claimed: other processes may know other jobs. */
  jobNames: readonly string[]
  now: string
  /**
   * A running run whose heartbeat is older than this is abandoned and reclaimable; null holds
   * recovery off (this machine's clock just jumped, and live owners have yet to renew).
   * Families whose database keeps the time (PostgreSQL) judge by `staleThreshold` against
   * the database's own clock instead.
   */
  staleBefore: string | null
  /** How long a heartbeat stays fresh (ms). */
  staleThreshold: number
  /**
   * Where the platform can tell (browsers, through Web Locks): a running run whose owner is
   * not among the live ones, with a heartbeat older than the observation, is abandoned too.
   */
  liveness?: LivenessSnapshot
}

/** One batch of a purge: its caller loops, so no statement holds the write lock for long. */
export interface PurgeRequest {
  /** Terminal runs last updated before this instant are removed with their steps and logs. */
  olderThan: string
  statuses?: readonly TerminalStatus[]
  jobName?: string
  /** At most this many runs in this statement. */
  limit: number
}

/** What a completion carrying a claim did (`RunQueue.completeRunAndClaim`). */
export interface CompletedAndClaimed {
  completed: boolean
  next: ClaimedRun | null
  claimAgain: boolean
}

/** The engine's side: claiming runs and the fenced writes of an execution. */
export interface RunQueue {
  /** Atomically take the oldest claimable run (stale running first, then pending). */
  claimNextRun(request: ClaimRequest): Promise<ClaimedRun | null>
  /**
   * Store a debounced run: when a pending run with its key has not started, that run takes
   * this one's input and start time (never past its `latest`) and is returned instead.
   */
  debounceRun(run: NewRun): Promise<CreatedRun>
  heartbeat(lease: Lease, now: string): Promise<boolean>
  commitStep(lease: Lease, step: NewStep): Promise<boolean>
  saveProgress(lease: Lease, progress: Progress, now: string): Promise<boolean>
  completeRun(lease: Lease, output: string | null, now: string): Promise<boolean>
  /**
   * Where the family can do both in one statement (PostgreSQL): complete the run (`completed`
   * as `completeRun` answers) and claim the next one (`request.now` is the completion's time).
   * `next` is the run claimed; `claimAgain` says a claim could still find one (the carried
   * claim took none, but not because nothing was due). Absent elsewhere.
   */
  completeRunAndClaim?(
    lease: Lease,
    output: string | null,
    request: ClaimRequest,
  ): Promise<CompletedAndClaimed>
  failRun(lease: Lease, error: string, now: string): Promise<boolean>
  /** Hand a running run back to the queue (graceful shutdown) so another worker resumes it now. */
  releaseRun(lease: Lease, now: string): Promise<boolean>
  /**
   * Put a running run to sleep: record the wait's step (if new) and hand the run back,
   * claimable from `suspension.availableAt`, as one fenced write.
   */
  suspendRun(lease: Lease, suspension: Suspension): Promise<boolean>
  /** The earliest moment after `after` a pending run of these jobs becomes claimable, if any. */
  nextWakeAt(jobNames: readonly string[], after: string): Promise<string | null>
  /** What replay needs of a run's finished steps, in execution order. */
  getRecordedSteps(runId: string): Promise<RecordedStep[]>
  /** The oldest event this run may take for a wait, sent since the run was created. */
  findEvent(runId: string, query: EventQuery): Promise<StoredEvent | null>
  /**
   * Fenced: record a step attempt before its body runs. Its number (from 1, counted since
   * the step was last recorded as failed), or null when the lease is gone or the attempt
   * would pass `limit`; nothing is written then.
   */
  beginStepAttempt(lease: Lease, attempt: NewStepAttempt): Promise<number | null>
  /** An attempt ended: why it failed, or null when it succeeded. */
  endAttempt(id: string, error: string | null, endedAt: string): Promise<void>
  /** Keep a failed run attempt's error. */
  recordRunAttempt(attempt: FailedRunAttempt): Promise<void>
}

/** The API's side: creating, reading and administering runs. */
export interface RunRepository {
  migrate(): Promise<void>
  /**
   * The database's clock (ms since the epoch) where machines share the database and it keeps
   * the time (PostgreSQL); null where it lives on this machine (SQLite).
   */
  databaseTime(): Promise<number | null>
  /** All rows in one statement: either every run is stored or none is. */
  insertRuns(runs: readonly NewRun[]): Promise<CreatedRun[]>
  getRun(id: string): Promise<Run | null>
  /** Why a pending run is not running at `now` (see `BlockedBy`); null otherwise. */
  blockedBy(id: string, now: string, workerSeenAfter: string): Promise<BlockedBy | null>
  /** Record that a worker here runs these jobs, as of `now`. */
  sightWorkers(jobNames: readonly string[], now: string): Promise<void>
  getRuns(filter?: RunFilter): Promise<Run[]>
  /** The greatest idempotency key of a job's runs that starts with `prefix` (schedule ticks). */
  latestIdempotencyKey(jobName: string, prefix: string): Promise<string | null>
  /** A run's steps, each with its `attempts` when it was run with `retry` or `timeout`. */
  getSteps(runId: string): Promise<Step[]>
  /** Every recorded attempt of a run and of its steps (`stepIndex` null: the run's own), oldest first. */
  getAttempts(runId: string): Promise<Attempt[]>
  insertLog(log: NewLog): Promise<void>
  /**
   * Store an event (or a signal); in the same statement every run waiting for it is made
   * claimable. `false` when an event with this id exists already (delivered once).
   */
  insertEvent(event: NewEvent): Promise<boolean>
  getLogs(runId: string): Promise<Log[]>
  /** Remove a terminal run with its steps and logs; `false` if absent or not terminal. */
  deleteRun(id: string): Promise<boolean>
  /**
   * Remove up to `limit` terminal runs with their steps, logs, attempts and the signals
   * addressed to them; returns how many runs went.
   */
  purgeRuns(request: PurgeRequest): Promise<number>
  /**
   * Remove up to `limit` broadcast events created before `olderThan` and before every pending
   * or running run (a wait takes events since its run's creation, so none could take them).
   */
  purgeEvents(olderThan: string, limit: number): Promise<number>
  /** The trace context stored with a run at trigger time (JSON text), or null. */
  getTraceContext(runId: string): Promise<string | null>
  /** pending|running → cancelled. Returns the updated run, or null when not cancellable. */
  cancelRun(id: string, now: string): Promise<Run | null>
  /** failed|cancelled → pending. Returns the updated run, or null when not retryable. */
  retryRun(id: string, now: string): Promise<Run | null>
}

/** The one storage contract: everything above the store speaks in these methods. */
export type Store = RunQueue & RunRepository
