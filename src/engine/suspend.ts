/**
 * Handing a running run back to wait: one fenced write records the wait (and its step, the
 * first time) and says when the run resumes anyway and what wakes it sooner. Every wait
 * (`sleep`, `waitForEvent`, `invoke`) and every retry backoff that releases the run ends here.
 */
import type { Lease, Suspension } from '../store/store.js'
import type { WaitingFor } from '../types.js'
import type { ExecutionControl } from './control.js'
import { type Core, isoNow } from './core.js'

export interface SuspendScope {
  core: Core
  jobName: string
  runId: string
  lease: Lease
  control: ExecutionControl
  /** A fenced write of this execution; a lost lease stops the execution there. */
  fenced(write: () => Promise<boolean>): Promise<void>
}

/**
 * `afterHandBack` runs once the run is handed back, before the execution stops: what must
 * never be recorded unless the hand-back was (a failed attempt's end, whose backoff a
 * takeover would otherwise skip).
 */
export type Suspend = (
  waitingFor: WaitingFor,
  suspension: Omit<Suspension, 'waitingFor' | 'now'>,
  afterHandBack?: () => Promise<void>,
) => Promise<never>

/** Hand the run back; the execution ends here (the body sees the suspension thrown). */
export function createSuspend(scope: SuspendScope): Suspend {
  const { core, jobName, runId, control } = scope
  return async (waitingFor, suspension, afterHandBack) => {
    const write = { ...suspension, waitingFor: JSON.stringify(waitingFor), now: isoNow(core) }
    await scope.fenced(() => core.store.suspendRun(scope.lease, write))
    await afterHandBack?.()
    control.stop('suspended')
    core.emitter.emit({ type: 'run:wait', runId, jobName, waitingFor })
    // Its condition may have held already (the event was sent, the child finished).
    if (suspension.condition) core.wake()
    control.checkpoint()
    throw new Error('unreachable: a suspended execution stops at its checkpoint')
  }
}
