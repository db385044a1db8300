/**
 * One execution of a claimed run: replay what is recorded, run the job body, settle the
 * run. Every write is fenced by the lease; when a fenced write finds the lease gone
 * (cancelled, or recovered by another worker) the execution stops and writes nothing more.
 * How it ends is decided once, by the control's stop reason.
 */
import { errorMessage, NotFoundError, SerializationError } from '../errors.js'
import { parseWithSchema } from '../job.js'
import { roundTrip } from '../serialize.js'
import type { ClaimedRun } from '../store/store.js'
import { type ExecutionControl, ShutdownRequested, type StopReason } from './control.js'
import { type Core, isoNow, reportError } from './core.js'
import { engineQuery, persist } from './persist.js'
import { createStepContext } from './step.js'

export async function executeRun(
  core: Core,
  claimed: ClaimedRun,
  control: ExecutionControl,
): Promise<void> {
  const { run, lease } = claimed
  const jobName = run.jobName
  const startedAt = core.now()
  const payload = claimed.payload.ok ? claimed.payload.value : undefined
  core.emitter.emit({ type: 'run:start', runId: run.id, jobName, payload })
  // The run's last write, patient like every other; false when the lease was already gone.
  const settle = (write: (now: string) => Promise<boolean>) => {
    const now = isoNow(core)
    return persist(core, control, 'settle', run.id, () => write(now))
  }

  let failedStepName: string | undefined
  try {
    const definition = core.definitionOf(jobName)
    if (!definition)
      throw new NotFoundError(`Run ${run.id}: job "${jobName}" is not registered here`)
    if (!claimed.payload.ok) throw new SerializationError(claimed.payload.problem)
    core.followSchedule(jobName, run.idempotencyKey)
    // A first claim has nothing to replay: skip the read.
    const recordedSteps =
      lease.generation > 1
        ? await engineQuery(core, control, 'replay', run.id, () =>
            core.store.getRecordedSteps(run.id),
          )
        : []
    const steps = createStepContext({
      core,
      jobName,
      runId: run.id,
      lease,
      control,
      recordedSteps,
      resumedWait: claimed.resumedWait,
    })
    let result: unknown
    try {
      result = await definition.run(steps.context, payload as never)
    } finally {
      failedStepName = steps.failedStepName()
      await steps.flush()
    }
    control.throwIfAborted()
    // A body that swallowed its own suspension must not complete a run that is asleep.
    if (control.reason === 'suspended') return
    const output = definition.output
      ? await parseWithSchema(
          definition.output,
          result,
          `Output of job "${jobName}" (run ${run.id})`,
        )
      : result
    const { json, value } = roundTrip(output, `Output of job "${jobName}"`)
    if (!(await settle((now) => core.store.completeRun(lease, json, now)))) return
    core.emitter.emit({
      type: 'run:complete',
      runId: run.id,
      jobName,
      output: value,
      duration: core.now() - startedAt,
    })
  } catch (error) {
    switch (stopReasonOf(control, error)) {
      case 'cancelled':
      case 'lease-lost':
        // The run is no longer ours: whoever holds it now decides its fate.
        return
      case 'suspended':
        // Already handed back, with its wake-up time, by the write that suspended it.
        return
      case 'shutdown':
      case 'database-unavailable':
        // Hand the run back now rather than leave it to go stale: it resumes at once
        // elsewhere. If the database refuses even that, the lease expires on its own.
        await core.store
          .releaseRun(lease, isoNow(core))
          .catch((releaseError: unknown) => reportError(core, 'release', releaseError, run.id))
        return
      case undefined: {
        const message = errorMessage(error)
        if (!(await settle((now) => core.store.failRun(lease, message, now)))) return
        core.emitter.emit({
          type: 'run:fail',
          runId: run.id,
          jobName,
          error: message,
          ...(failedStepName ? { failedStepName } : {}),
        })
      }
    }
  }
}

/**
 * Why the execution ended early, if it did. A shutdown only counts when it is what ended
 * the body (thrown at a step boundary): a step that failed on its own still fails the run.
 */
function stopReasonOf(control: ExecutionControl, error: unknown): StopReason | undefined {
  if (control.signal.aborted || control.reason === 'suspended') return control.reason
  return error instanceof ShutdownRequested ? 'shutdown' : undefined
}
