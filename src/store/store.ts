/**
 * The one storage contract. Everything above the store speaks in these methods; only the
 * store and its per-family files write SQL.
 *
 * Methods that take a `Lease` are fenced: they change nothing and answer `false` unless the
 * run is still `running` under that exact lease generation. That single conditional write
 * is how an execution learns it was cancelled or recovered elsewhere, without a read per step.
 */
import type { LivenessSnapshot } from '../owner-liveness.js'
import type {
  Log,
  LogLevel,
  Progress,
  Run,
  RunFilter,
  RunStatus,
  Step,
  StepStatus,
} from '../types.js'

export interface Lease {
  runId: string
  generation: number
}

export interface ClaimedRun {
  run: Pick<Run, 'id' | 'jobName'>
  lease: Lease
  /** The payload as stored; `undefined` when the stored JSON is unreadable (see `payloadError`). */
  payload: unknown
  payloadError?: string
}

export interface NewRun {
  id: string
  jobName: string
  /** JSON text. */
  payload: string
  idempotencyKey: string | null
  concurrencyKey: string | null
  createdAt: string
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

export interface ClaimRequest {
  /** Identifies the claiming worker; stored as the lease owner. */
  owner: string
  /** Only runs of these jobs are claimed: other processes may know other jobs. */
  jobNames: readonly string[]
  now: string
  /** A running run whose heartbeat is older than this is abandoned and reclaimable. */
  staleBefore: string
  /**
   * Where the platform can tell (browsers, through Web Locks): a running run whose owner is
   * not among the live ones, with a heartbeat older than the observation, is abandoned too.
   */
  liveness?: LivenessSnapshot
}

export interface RunPatch {
  status?: RunStatus
  output?: string | null
  error?: string | null
  progress?: Progress | null
  heartbeatAt?: string | null
}

export interface PurgeRequest {
  /** Terminal runs last updated before this instant are removed with their steps and logs. */
  olderThan: string
  statuses?: readonly RunStatus[]
  limit?: number
}

export interface Store {
  migrate(): Promise<void>

  createRun(run: NewRun): Promise<CreatedRun>
  /** All rows in one statement: either every run is stored or none is. */
  batchCreateRuns(runs: readonly NewRun[]): Promise<CreatedRun[]>
  getRun(id: string): Promise<Run | null>
  getRuns(filter?: RunFilter): Promise<Run[]>
  /** Peek at the run the next claim would take, without claiming it. */
  getNextPendingRun(jobNames: readonly string[], staleBefore: string): Promise<Run | null>
  /** Unfenced administrative update, kept for compatibility; the worker never uses it. */
  updateRun(id: string, patch: RunPatch, now: string): Promise<void>
  /** Remove a terminal run with its steps and logs; `false` if absent or not terminal. */
  deleteRun(id: string): Promise<boolean>
  purgeRuns(request: PurgeRequest): Promise<number>

  /** Atomically take the oldest claimable run (stale running first, then pending). */
  claimNextRun(request: ClaimRequest): Promise<ClaimedRun | null>
  heartbeat(lease: Lease, now: string): Promise<boolean>
  commitStep(lease: Lease, step: NewStep): Promise<boolean>
  saveProgress(lease: Lease, progress: Progress, now: string): Promise<boolean>
  completeRun(lease: Lease, output: string | null, now: string): Promise<boolean>
  failRun(lease: Lease, error: string, now: string): Promise<boolean>
  /** Hand a running run back to the queue (graceful shutdown) so another worker resumes it now. */
  releaseRun(lease: Lease, now: string): Promise<boolean>

  /** pending|running → cancelled. Returns the updated run, or null when not cancellable. */
  cancelRun(id: string, now: string): Promise<Run | null>
  /** failed|cancelled → pending. Returns the updated run, or null when not retryable. */
  retryRun(id: string, now: string): Promise<Run | null>

  /** Unfenced step insert, kept for compatibility. */
  createStep(step: NewStep): Promise<void>
  getSteps(runId: string): Promise<Step[]>
  getCompletedSteps(runId: string): Promise<Step[]>
  getCompletedStep(runId: string, name: string, occurrence?: number): Promise<Step | null>

  createLog(log: NewLog): Promise<void>
  getLogs(runId: string): Promise<Log[]>
}
