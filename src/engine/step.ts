/**
 * The step context a job body receives. `step.run` executes a named step once and replays
 * its recorded result ever after; steps are matched by name and occurrence, so calling
 * `step.run('x')` twice makes two steps. A step returns on first execution exactly what it
 * will return on replay: its JSON round trip.
 */
import { errorMessage, InvalidArgumentError, SerializationError } from '../errors.js'
import type { StepContext, StepRunInfo } from '../job.js'
import { type StepRunOptions, validateStepRunOptions } from '../retry-policy.js'
import { type Jsonify, roundTrip, toJson } from '../serialize.js'
import type { NewStep, RecordedStep } from '../store/store.js'
import type { LogLevel, Progress } from '../types.js'
import { type AttemptOutcome, runAttempts } from './attempts.js'
import { isoNow } from './core.js'
import { persist } from './persist.js'
import { createSuspend } from './suspend.js'
import { type BegunStep, createWaits, type StepKit, type StepOutcome } from './waits.js'

export interface StepContextHandle {
  context: StepContext
  /** Wait until every progress write issued so far has reached the database. */
  flush(): Promise<void>
  /** Name of the step that failed the run, if one did. */
  failedStepName(): string | undefined
}

type StepScope = Pick<
  StepKit,
  'core' | 'jobName' | 'runId' | 'lease' | 'control' | 'recordedSteps' | 'resumedWait'
> & {
  /** The run attempt this execution belongs to (`step.attempt`). */
  attempt: number
}

export function createStepContext(scope: StepScope): StepContextHandle {
  const { core, jobName, runId, lease, control } = scope
  const replay = new Map<string, RecordedStep>()
  {
    const seen = new Map<string, number>()
    for (const step of scope.recordedSteps) {
      const occurrence = seen.get(step.name) ?? 0
      seen.set(step.name, occurrence + 1)
      replay.set(occurrenceKey(step.name, occurrence), step)
    }
  }
  const occurrences = new Map<string, number>()
  let nextIndex = 0
  let currentStep: string | null = null
  let failedStep: string | undefined
  let pendingProgress: Progress | undefined
  let progressWriting: Promise<void> | undefined

  /** Number the step by name and occurrence; its recorded result if it already finished. */
  function beginStep(name: string): { recorded: RecordedStep } | { begun: BegunStep } {
    control.checkpoint()
    const occurrence = occurrences.get(name) ?? 0
    occurrences.set(name, occurrence + 1)
    const index = nextIndex++
    const recorded = replay.get(occurrenceKey(name, occurrence))
    if (recorded) return { recorded }
    return { begun: { name, index, startedAt: core.now() } }
  }

  function stepRecord(step: BegunStep, outcome: StepOutcome): NewStep {
    return {
      id: core.newId(),
      runId,
      name: step.name,
      index: step.index,
      status: outcome.ok ? 'completed' : 'failed',
      output: outcome.ok ? outcome.json : null,
      error: outcome.ok ? null : outcome.error,
      startedAt: new Date(step.startedAt).toISOString(),
      completedAt: isoNow(core),
    }
  }

  /** A fenced write of this execution; a lost lease stops the execution here. */
  async function fenced(write: () => Promise<boolean>): Promise<void> {
    if (!(await persist(core, control, 'step', runId, write))) {
      control.stop('lease-lost')
      control.throwIfAborted()
    }
  }

  /** Record the step's outcome under the lease. */
  function commitStep(step: BegunStep, outcome: StepOutcome): Promise<void> {
    const record = stepRecord(step, outcome)
    return fenced(() => core.store.commitStep(lease, record))
  }

  async function run<T>(
    name: string,
    fn: (signal: AbortSignal, info: StepRunInfo) => T | Promise<T>,
    options?: StepRunOptions,
  ): Promise<Jsonify<T>> {
    if (typeof name !== 'string' || name.length === 0) {
      throw new InvalidArgumentError(
        `step.run in run ${runId}: the step name must be a non-empty string`,
      )
    }
    if (typeof fn !== 'function') {
      throw new InvalidArgumentError(
        `step.run("${name}") in run ${runId}: the second argument must be a function`,
      )
    }
    const { retry, timeout } = validateStepRunOptions(
      options,
      `step.run("${name}") in run ${runId}`,
    )
    const started = beginStep(name)
    if ('recorded' in started) {
      const { output } = started.recorded
      if (!output.ok) throw new SerializationError(output.problem)
      return output.value as Jsonify<T>
    }
    const step = started.begun
    core.emitter.emit({ type: 'step:start', runId, jobName, stepName: name, stepIndex: step.index })
    const previousStep = currentStep
    currentStep = name
    type Result = { json: string | null; value: Jsonify<T> }
    const body = async (signal: AbortSignal, attempt: number): Promise<Result> => {
      const value = await fn(signal, { attempt })
      control.throwIfAborted()
      return roundTrip(value, `Step "${name}" of job "${jobName}"`) as Result
    }
    let outcome: AttemptOutcome<Result>
    try {
      // Only a step with a policy pays for attempts (a fenced write each): plain steps do not.
      outcome =
        retry || timeout !== undefined
          ? await runAttempts(attemptScope, step, body, { retry, timeout })
          : await body(control.signal, 1).then(
              (result) => ({ ok: true, result }),
              (error: unknown) => ({ ok: false, error }),
            )
    } finally {
      currentStep = previousStep
    }
    if (!outcome.ok) {
      control.throwIfAborted()
      const message = errorMessage(outcome.error)
      failedStep = name
      await commitStep(step, { ok: false, error: message })
      core.emitter.emit({
        type: 'step:fail',
        runId,
        jobName,
        stepName: name,
        stepIndex: step.index,
        error: message,
      })
      throw outcome.error
    }
    const result = outcome.result
    await commitStep(step, { ok: true, json: result.json })
    await core.yieldToHost()
    core.emitter.emit({
      type: 'step:complete',
      runId,
      jobName,
      stepName: name,
      stepIndex: step.index,
      output: result.value,
      duration: core.now() - step.startedAt,
    })
    return result.value
  }

  function progress(current: number, total?: number, message?: string) {
    if (typeof current !== 'number' || !Number.isFinite(current)) {
      throw new InvalidArgumentError(
        `step.progress in run ${runId}: current must be a finite number`,
      )
    }
    if (total !== undefined && (typeof total !== 'number' || !Number.isFinite(total))) {
      throw new InvalidArgumentError(`step.progress in run ${runId}: total must be a finite number`)
    }
    const value: Progress = { current }
    if (total !== undefined) value.total = total
    if (message !== undefined) value.message = String(message)
    core.emitter.emit({ type: 'run:progress', runId, jobName, progress: value })
    pendingProgress = value
    progressWriting ??= writeProgress()
  }

  // Progress can be reported far faster than it can be written; only the latest value
  // matters, so writes are serialised and intermediate values are skipped.
  async function writeProgress(): Promise<void> {
    try {
      while (pendingProgress && !control.signal.aborted) {
        const value = pendingProgress
        pendingProgress = undefined
        const saved = await persist(core, control, 'progress', runId, () =>
          core.store.saveProgress(lease, value, isoNow(core)),
        )
        if (!saved) control.stop('lease-lost')
      }
    } catch {
      // persist() has reported it and abandoned the execution.
    } finally {
      progressWriting = undefined
    }
  }

  function log(level: LogLevel) {
    return (message: string, data?: unknown) => {
      const event = {
        type: 'log:write' as const,
        runId,
        jobName,
        stepName: currentStep,
        level,
        message: String(message),
      }
      if (data === undefined) {
        core.emitter.emit(event)
        return
      }
      // Logged data must survive persistence like any other value; refuse what JSON drops.
      toJson(data, `Log data of run ${runId}`)
      core.emitter.emit({ ...event, data })
    }
  }

  const suspend = createSuspend({ core, jobName, runId, lease, control, fenced })
  const attemptScope = { core, jobName, runId, lease, control, fenced, suspend }
  const waits = createWaits({
    core,
    jobName,
    runId,
    lease,
    control,
    recordedSteps: scope.recordedSteps,
    resumedWait: scope.resumedWait,
    beginStep,
    stepRecord,
    commitStep,
    fenced,
    suspend,
  })

  return {
    context: {
      runId,
      signal: control.signal,
      attempt: scope.attempt,
      run,
      ...waits,
      progress,
      log: { info: log('info'), warn: log('warn'), error: log('error') },
    },
    flush: async () => {
      while (progressWriting) await progressWriting
    },
    failedStepName: () => failedStep,
  }
}

function occurrenceKey(name: string, occurrence: number): string {
  return `${occurrence}\u0000${name}`
}
