/**
 * How an execution is told to stop. Cancellation and lease loss abort the step's signal
 * (the work is no longer ours); a shutdown lets the step in flight finish and stops at the
 * next step boundary, so the run can be handed back without losing finished work.
 */
import { CancelledError, LeaseLostError } from './errors.js'

/** Thrown at a step boundary when the worker is stopping; never escapes the worker. */
export class ShutdownRequested extends Error {
  constructor() {
    super('The worker is stopping')
    this.name = 'ShutdownRequested'
  }
}

export interface ExecutionControl {
  readonly signal: AbortSignal
  readonly shuttingDown: boolean
  cancel(): void
  markLeaseLost(): void
  /** Record that the lease is gone and throw `LeaseLostError`. */
  loseLease(): never
  /** The database would not take our writes: stop without failing the run. */
  abandon(reason: Error): void
  requestShutdown(): void
  throwIfAborted(): void
  /** At a step boundary: stop if aborted or shutting down. */
  throwIfStopped(): void
}

export function createExecutionControl(runId: string): ExecutionControl {
  const controller = new AbortController()
  let shuttingDown = false
  const abort = (reason: Error) => {
    if (!controller.signal.aborted) controller.abort(reason)
  }
  const control: ExecutionControl = {
    signal: controller.signal,
    get shuttingDown() {
      return shuttingDown
    },
    cancel: () => abort(new CancelledError(runId)),
    markLeaseLost: () => abort(new LeaseLostError(runId)),
    loseLease() {
      control.markLeaseLost()
      throw controller.signal.reason
    },
    abandon: (reason) => abort(reason),
    requestShutdown() {
      shuttingDown = true
    },
    throwIfAborted() {
      if (controller.signal.aborted) throw controller.signal.reason
    },
    throwIfStopped() {
      control.throwIfAborted()
      if (shuttingDown) throw new ShutdownRequested()
    },
  }
  return control
}
