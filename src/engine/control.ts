/**
 * How an execution is told to stop, and why. There is one verb, `stop(reason)`, and one
 * reason per way a run stops early:
 * - `cancelled` and `lease-lost`: the work is no longer ours; the step's signal aborts and
 *   the execution writes nothing more.
 * - `database-unavailable`: the database would not take our writes; the signal aborts and
 *   the run is handed back if the database lets us, to resume later.
 * - `shutdown`: the worker is stopping; the step in flight finishes, and the run is handed
 *   back at the next step boundary without losing finished work.
 * - `suspended`: the run went to sleep (its lease and slot already handed back, as one
 *   fenced write); nothing more runs until it wakes. Final: nothing overtakes it.
 * The first aborting reason wins; a shutdown may still be overtaken by one.
 */
import { CancelledError, LeaseLostError } from '../errors.js'

export type StopReason =
  | 'cancelled'
  | 'lease-lost'
  | 'database-unavailable'
  | 'shutdown'
  | 'suspended'

/** Thrown at a step boundary when the worker is stopping; never escapes the worker. */
export class ShutdownRequested extends Error {
  constructor() {
    super('The worker is stopping')
    this.name = 'ShutdownRequested'
  }
}

/** Thrown where a run went to sleep, and at any step boundary after; never escapes the worker. */
export class RunSuspended extends Error {
  constructor() {
    super('The run is waiting; it resumes when its wait ends')
    this.name = 'RunSuspended'
  }
}

export interface ExecutionControl {
  /** Aborted when the work is no longer ours (every reason but `shutdown` and `suspended`). */
  readonly signal: AbortSignal
  readonly reason: StopReason | undefined
  /** `cause` is what the database said, for `database-unavailable`. */
  stop(reason: StopReason, cause?: Error): void
  /** Inside a step: throw the abort reason if the work is no longer ours. */
  throwIfAborted(): void
  /** At a step boundary: throw if the execution must stop, for any reason. */
  checkpoint(): void
}

export function createExecutionControl(runId: string): ExecutionControl {
  const controller = new AbortController()
  let reason: StopReason | undefined
  const control: ExecutionControl = {
    signal: controller.signal,
    get reason() {
      return reason
    },
    stop(next, cause) {
      if (controller.signal.aborted || reason === 'suspended') return
      reason = next
      if (next === 'shutdown' || next === 'suspended') return
      controller.abort(
        next === 'cancelled'
          ? new CancelledError(runId)
          : next === 'lease-lost'
            ? new LeaseLostError(runId)
            : (cause ?? new Error(`Run ${runId}: the database is unavailable`)),
      )
    },
    throwIfAborted() {
      if (controller.signal.aborted) throw controller.signal.reason
    },
    checkpoint() {
      control.throwIfAborted()
      if (reason === 'shutdown') throw new ShutdownRequested()
      if (reason === 'suspended') throw new RunSuspended()
    },
  }
  return control
}
