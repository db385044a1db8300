/**
 * The step context a job body receives. `step.run` executes a named step once and replays
 * its recorded result ever after; steps are matched by name and occurrence, so calling
 * `step.run('x')` twice makes two steps. A step returns on first execution exactly what it
 * will return on replay: its JSON round trip.
 */
import { type Core, isoNow } from './core.js'
import { errorMessage, InvalidArgumentError, SerializationError } from './errors.js'
import type { ExecutionControl } from './execution-control.js'
import { persist } from './persist.js'
import { roundTrip, toJson } from './serialize.js'
import type { Lease } from './store/store.js'
import type { LogLevel, Progress, Step } from './types.js'

export interface StepContext {
  /** The id of the run being executed. */
  readonly runId: string
  /** Aborted when the run is cancelled or this worker loses its lease. */
  readonly signal: AbortSignal
  /**
   * Execute `fn` once and persist its result; on resume, return the recorded result
   * without executing it again. `fn` receives `signal`.
   */
  run<T>(name: string, fn: (signal: AbortSignal) => T | Promise<T>): Promise<T>
  /** Report progress; persisted in order, coalesced when reported faster than it is written. */
  progress(current: number, total?: number, message?: string): void
  log: {
    info(message: string, data?: unknown): void
    warn(message: string, data?: unknown): void
    error(message: string, data?: unknown): void
  }
}

export interface StepContextHandle {
  context: StepContext
  /** Wait until every progress write issued so far has reached the database. */
  flush(): Promise<void>
  /** Name of the step that failed the run, if one did. */
  failedStepName(): string | undefined
}

interface StepScope {
  core: Core
  jobName: string
  runId: string
  lease: Lease
  control: ExecutionControl
  completedSteps: readonly Step[]
}

export function createStepContext(scope: StepScope): StepContextHandle {
  const { core, jobName, runId, lease, control } = scope
  const replay = new Map<string, Step>()
  {
    const seen = new Map<string, number>()
    for (const step of scope.completedSteps) {
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

  async function run<T>(name: string, fn: (signal: AbortSignal) => T | Promise<T>): Promise<T> {
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
    control.throwIfStopped()
    const occurrence = occurrences.get(name) ?? 0
    occurrences.set(name, occurrence + 1)
    const index = nextIndex++
    const recorded = replay.get(occurrenceKey(name, occurrence))
    if (recorded) {
      if (recorded.error) throw new SerializationError(recorded.error)
      return recorded.output as T
    }

    core.emitter.emit({ type: 'step:start', runId, jobName, stepName: name, stepIndex: index })
    const startedAt = core.now()
    const previousStep = currentStep
    currentStep = name
    let json: string | null
    let value: T
    try {
      const result = await fn(control.signal)
      control.throwIfAborted()
      ;({ json, value } = roundTrip(result, `Step "${name}" of job "${jobName}"`))
    } catch (error) {
      currentStep = previousStep
      if (control.signal.aborted) throw control.signal.reason
      await recordFailure(name, index, startedAt, error)
      throw error
    }
    currentStep = previousStep
    const completed = {
      id: core.newId(),
      runId,
      name,
      index,
      status: 'completed' as const,
      output: json,
      error: null,
      startedAt: new Date(startedAt).toISOString(),
      completedAt: isoNow(core),
    }
    const committed = await persist(core, control, 'step', runId, () =>
      core.store.commitStep(lease, completed),
    )
    if (!committed) control.loseLease()
    await core.yieldToHost()
    core.emitter.emit({
      type: 'step:complete',
      runId,
      jobName,
      stepName: name,
      stepIndex: index,
      output: value,
      duration: core.now() - startedAt,
    })
    return value
  }

  async function recordFailure(name: string, index: number, startedAt: number, error: unknown) {
    const message = errorMessage(error)
    failedStep = name
    const failed = {
      id: core.newId(),
      runId,
      name,
      index,
      status: 'failed' as const,
      output: null,
      error: message,
      startedAt: new Date(startedAt).toISOString(),
      completedAt: isoNow(core),
    }
    const committed = await persist(core, control, 'step', runId, () =>
      core.store.commitStep(lease, failed),
    )
    if (!committed) control.loseLease()
    core.emitter.emit({
      type: 'step:fail',
      runId,
      jobName,
      stepName: name,
      stepIndex: index,
      error: message,
    })
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
        if (!saved) control.markLeaseLost()
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

  return {
    context: {
      runId,
      signal: control.signal,
      run,
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
