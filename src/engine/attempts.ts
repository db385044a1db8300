/**
 * Attempts: how a step run with `retry` or `timeout` tries its body, and which failures
 * are worth another try (shared with the run's own retry policy in execution.ts).
 *
 * Each step attempt is recorded (one fenced write) before its body runs, so an attempt cut
 * short by a crash counts: a body that kills its process every time ends failed after its
 * attempts instead of looping. A short backoff is waited out in place, holding the worker;
 * a longer one hands the run back (wait kind `retry`) and whoever claims it when due replays
 * to this step and begins the next attempt, numbered from the recorded ones.
 */
import {
  errorMessage,
  isDurablyError,
  NonRetriableError,
  RetryAfterError,
  TimeoutError,
} from '../errors.js'
import { backoffDelay } from '../retry.js'
import { backoffOf, type RetryPolicy, type StepRunOptions } from '../retry-policy.js'
import type { Lease } from '../store/store.js'
import type { ExecutionControl } from './control.js'
import { type Core, isoNow } from './core.js'
import { engineQuery } from './persist.js'
import type { Suspend } from './suspend.js'
import type { BegunStep } from './waits.js'

/**
 * A backoff up to this long is waited out holding the worker (saving a claim and a replay);
 * a longer one releases it, since a worker slot is worth more than that. The hold ends early
 * when the run is cancelled or its lease lost; a stopping worker waits at most this long.
 */
export const HOLD_LIMIT_MS = 1000

/** Attempt numbers are stored as integers: "no limit" is the largest. */
const NO_LIMIT = 2_147_483_647

export type AttemptOutcome<R> = { ok: true; result: R } | { ok: false; error: unknown }

export interface AttemptScope {
  core: Core
  jobName: string
  runId: string
  lease: Lease
  control: ExecutionControl
  fenced(write: () => Promise<boolean>): Promise<void>
  suspend: Suspend
}

/** Whether a failure may be tried again: not when the body said so, nor for a misuse of ours. */
export function isRetriable(error: unknown): boolean {
  return !(
    error instanceof NonRetriableError ||
    (isDurablyError(error) && (error.code === 'NON_RETRIABLE' || error.code === 'INVALID_ARGUMENT'))
  )
}

/** The pause before attempt `failed + 1`: what a `RetryAfterError` asked for, else the backoff. */
export function retryDelay(policy: RetryPolicy, failed: number, error: unknown): number {
  if (error instanceof RetryAfterError) return error.retryAfter
  if (isDurablyError(error) && error.code === 'RETRY_AFTER') {
    const asked = (error as { retryAfter?: unknown }).retryAfter
    if (typeof asked === 'number' && Number.isFinite(asked) && asked >= 0) return asked
  }
  return backoffDelay(backoffOf(policy), failed)
}

/**
 * Try the step's body until an attempt succeeds, fails past its policy, or the run is
 * handed back for a long backoff (then this throws the suspension, like a wait). Outcomes of
 * the body are returned, never thrown: what is thrown stops the execution.
 */
export async function runAttempts<R>(
  scope: AttemptScope,
  step: BegunStep,
  body: (signal: AbortSignal, attempt: number) => Promise<R>,
  options: StepRunOptions,
): Promise<AttemptOutcome<R>> {
  const { core, jobName, runId, lease, control } = scope
  const { retry, timeout } = options
  const limit = retry?.attempts ?? NO_LIMIT
  for (;;) {
    const id = core.newId()
    const begun: { attempt: number | null } = { attempt: null }
    await scope.fenced(async () => {
      begun.attempt = await core.store.beginStepAttempt(lease, {
        id,
        runId,
        stepIndex: step.index,
        stepName: step.name,
        startedAt: isoNow(core),
        limit,
      })
      // Nothing written: the lease is gone (the fence says so) or the attempts are used up.
      return begun.attempt !== null || (await core.store.heartbeat(lease, isoNow(core)))
    })
    const attempt = begun.attempt
    if (attempt === null) {
      return {
        ok: false,
        error: new Error(
          `Step "${step.name}" of run ${runId} used all ${limit} attempts: the last one never finished (its process ended during it)`,
        ),
      }
    }
    const outcome = await attemptOnce(control, step, (signal) => body(signal, attempt), timeout)
    if (outcome.ok) return outcome
    if (control.signal.aborted) return outcome
    const message = errorMessage(outcome.error)
    // When it failed: its end, and where its backoff counts from.
    const failedAt = core.now()
    const endAttempt = () =>
      engineQuery(core, control, 'step', runId, () =>
        core.store.endAttempt(id, message, new Date(failedAt).toISOString()),
      )
    if (!retry || attempt >= retry.attempts || !isRetriable(outcome.error)) {
      await endAttempt()
      return outcome
    }
    const delay = retryDelay(retry, attempt, outcome.error)
    core.emitter.emit({
      type: 'step:retry',
      runId,
      jobName,
      stepName: step.name,
      stepIndex: step.index,
      attempt,
      delay,
      error: message,
    })
    if (delay > HOLD_LIMIT_MS) {
      const until = new Date(failedAt + delay).toISOString()
      // The hand-back, carrying the backoff, is written before the attempt's end: a crash
      // between the two then loses this attempt's message at worst. The other way round, a
      // takeover found a failed attempt and no backoff, and began the next one at once.
      await scope.suspend(
        {
          kind: 'retry',
          attempt: attempt + 1,
          until,
          error: message,
          step: step.name,
          stepIndex: step.index,
        },
        { availableAt: until },
        endAttempt,
      )
    }
    await endAttempt()
    await hold(delay, control.signal)
    control.checkpoint()
  }
}

/** One try of the body: its signal aborts with the run's, or with `TimeoutError` at `timeout`. */
async function attemptOnce<R>(
  control: ExecutionControl,
  step: BegunStep,
  body: (signal: AbortSignal) => Promise<R>,
  timeout: number | undefined,
): Promise<AttemptOutcome<R>> {
  if (timeout === undefined) {
    try {
      return { ok: true, result: await body(control.signal) }
    } catch (error) {
      return { ok: false, error }
    }
  }
  const controller = new AbortController()
  const parent = control.signal
  const forward = () => controller.abort(parent.reason)
  if (parent.aborted) forward()
  else parent.addEventListener('abort', forward, { once: true })
  let timer: ReturnType<typeof setTimeout> | undefined
  // A body that ignores its signal is not waited for: the attempt fails at the timeout.
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new TimeoutError(
        `Step "${step.name}" timed out after ${timeout} ms (its signal was aborted)`,
      )
      controller.abort(error)
      reject(error)
    }, timeout)
  })
  const running = body(controller.signal)
  running.catch(() => {})
  try {
    return { ok: true, result: await Promise.race([running, timedOut]) }
  } catch (error) {
    return { ok: false, error }
  } finally {
    clearTimeout(timer)
    parent.removeEventListener('abort', forward)
  }
}

/** Wait `ms`, or less if the signal aborts (the caller's checkpoint then throws). */
function hold(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
