/**
 * One execution of a claimed run: replay what is recorded, run the job body, settle the
 * run. Every write is fenced by the lease; when a fenced write finds the lease gone
 * (cancelled, or recovered by another worker) the execution stops and writes nothing more.
 */
import { type Core, isoNow } from './core.js'
import { coerceError, DurablyError, errorMessage, isDurablyError } from './errors.js'
import type { ExecutionControl } from './execution-control.js'
import { ShutdownRequested } from './execution-control.js'
import { parseWithSchema } from './job.js'
import { persist } from './persist.js'
import { roundTrip } from './serialize.js'
import { createStepContext } from './step.js'
import type { ClaimedRun } from './store/store.js'

export async function executeRun(
  core: Core,
  claimed: ClaimedRun,
  control: ExecutionControl,
): Promise<void> {
  const { run, lease } = claimed
  const jobName = run.jobName
  const startedAt = core.now()
  core.emitter.emit({ type: 'run:start', runId: run.id, jobName, payload: claimed.payload })
  // The run's last write, patient like every other; false when the lease was already gone.
  const settle = (write: (now: string) => Promise<boolean>) => {
    const now = isoNow(core)
    return persist(core, control, 'settle', run.id, () => write(now))
  }

  let failedStepName: string | undefined
  try {
    const definition = core.definitionOf(jobName)
    if (!definition)
      throw new DurablyError('NOT_FOUND', `Run ${run.id}: job "${jobName}" is not registered here`)
    if (claimed.payloadError) throw new DurablyError('SERIALIZATION', claimed.payloadError)
    // A first claim has nothing to replay: skip the read.
    const completedSteps =
      lease.generation > 1 ? await readCompletedSteps(core, control, run.id) : []
    const steps = createStepContext({
      core,
      jobName,
      runId: run.id,
      lease,
      control,
      completedSteps,
    })
    let result: unknown
    try {
      result = await definition.run(steps.context, claimed.payload as never)
    } finally {
      failedStepName = steps.failedStepName()
      await steps.flush()
    }
    control.throwIfAborted()
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
    if (error instanceof ShutdownRequested) {
      // Hand the run back now rather than leave it to go stale: it resumes at once elsewhere.
      await core.store.releaseRun(lease, isoNow(core))
      return
    }
    if (control.signal.aborted) {
      const reason: unknown = control.signal.reason
      // Abandoned because the database refused our writes: hand the run back if it lets us.
      if (isDurablyError(reason) && reason.code === 'DATABASE') {
        await core.store.releaseRun(lease, isoNow(core)).catch(() => undefined)
      }
      return
    }
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

async function readCompletedSteps(core: Core, control: ExecutionControl, runId: string) {
  try {
    return await core.store.getCompletedSteps(runId)
  } catch (error) {
    core.emitter.emit({
      type: 'worker:error',
      error: errorMessage(error),
      context: 'replay',
      runId,
    })
    control.abandon(coerceError(error))
    throw error
  }
}
