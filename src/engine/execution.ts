/**
 * One execution of a claimed run: replay what is recorded, run the job body, settle the
 * run. Every write is fenced by the lease; when a fenced write finds the lease gone
 * (cancelled, or recovered by another worker) the execution stops and writes nothing more.
 * How it ends is decided once, by the control's stop reason.
 */
import { errorMessage, NonRetriableError, NotFoundError, SerializationError } from '../errors.js'
import { parseWithSchema } from '../job.js'
import type { RetryPolicy } from '../retry-policy.js'
import { roundTrip } from '../serialize.js'
import type { ClaimedRun, ClaimRequest, Lease } from '../store/store.js'
import type { WaitingFor } from '../types.js'
import { isRetriable, retryDelay } from './attempts.js'
import { type ExecutionControl, ShutdownRequested, type StopReason } from './control.js'
import { type Core, isoNow, reportError } from './core.js'
import { engineQuery, persist } from './persist.js'
import { createStepContext } from './step.js'

/**
 * The worker's offer to claim its next run in the statement that completes this one (where
 * the store can): `request` answers the claim to carry, or null for none; what that claim
 * brought back is left in `next` (a run to execute, or `claimAgain` when a claim could still
 * find one), for the worker to take once this execution is over.
 */
export interface Handoff {
  request(now: string): ClaimRequest | null
  next: ClaimedRun | null
  claimAgain: boolean
}

export async function executeRun(
  core: Core,
  claimed: ClaimedRun,
  control: ExecutionControl,
  handoff?: Handoff,
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
    const policy = definition.retry
    // Past its attempts already: each one left unfinished (its process died during it).
    if (policy && claimed.attempt > policy.attempts) {
      throw new NonRetriableError(
        `Run ${run.id} used all ${policy.attempts} attempts: the last one never finished (its process ended during it)`,
      )
    }
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
      attempt: claimed.attempt,
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
    if (!(await settle((now) => complete(core, lease, json, now, handoff)))) return
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
        const policy = core.definitionOf(jobName)?.retry
        const failedAt = core.now()
        // An attempt past the policy never began: it was refused at the start.
        const keep = async () => {
          if (policy && claimed.attempt <= policy.attempts) {
            await keepRunAttempt(core, claimed, startedAt, failedAt, message)
          }
        }
        if (policy && claimed.attempt < policy.attempts && isRetriable(error)) {
          await retryLater(core, claimed, settle, policy, error, failedAt, keep)
          return
        }
        await keep()
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
 * The body threw with attempts left: hand the run back until its backoff has passed
 * (always released, however short: the body has unwound, so trying again means a claim
 * and a replay either way, and a run waiting in the database survives a crash meanwhile).
 */
async function retryLater(
  core: Core,
  claimed: ClaimedRun,
  settle: (write: (now: string) => Promise<boolean>) => Promise<boolean>,
  policy: RetryPolicy,
  error: unknown,
  failedAt: number,
  afterHandBack: () => Promise<void>,
): Promise<void> {
  const { run, lease, attempt } = claimed
  const message = errorMessage(error)
  const delay = retryDelay(policy, attempt, error)
  const until = new Date(failedAt + delay).toISOString()
  const waitingFor: WaitingFor = { kind: 'retry', attempt: attempt + 1, until, error: message }
  const released = await settle((now) =>
    core.store.suspendRun(lease, {
      availableAt: until,
      waitingFor: JSON.stringify(waitingFor),
      now,
    }),
  )
  if (!released) return
  // Recorded only once the backoff is: a crash in between leaves the attempt unrecorded, and
  // a takeover then counts it as one a crash cut short, never a failure whose backoff it skips.
  await afterHandBack()
  const base = { runId: run.id, jobName: run.jobName }
  core.emitter.emit({ type: 'run:retry', ...base, attempt, delay, error: message })
  core.emitter.emit({ type: 'run:wait', ...base, waitingFor })
}

/** Keep a failed run attempt's error; losing that record must not stop the run settling. */
async function keepRunAttempt(
  core: Core,
  claimed: ClaimedRun,
  startedAt: number,
  endedAt: number,
  error: string,
): Promise<void> {
  try {
    await core.store.recordRunAttempt({
      id: core.newId(),
      runId: claimed.run.id,
      attempt: claimed.attempt,
      error,
      startedAt: new Date(startedAt).toISOString(),
      endedAt: new Date(endedAt).toISOString(),
    })
  } catch (recordError) {
    reportError(core, 'settle', recordError, claimed.run.id)
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

/** The completion, carrying the worker's next claim when it offers one and the store can. */
async function complete(
  core: Core,
  lease: Lease,
  output: string | null,
  now: string,
  handoff: Handoff | undefined,
): Promise<boolean> {
  const request = handoff?.request(now)
  if (!handoff || !request || !core.store.completeRunAndClaim) {
    return core.store.completeRun(lease, output, now)
  }
  const outcome = await core.store.completeRunAndClaim(lease, output, request)
  handoff.next = outcome.next
  handoff.claimAgain = outcome.claimAgain
  return outcome.completed
}
