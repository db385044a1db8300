/**
 * Every way a run waits: `sleep`/`sleepUntil`, `waitForEvent` and `invoke`. A wait is a
 * step. While it cannot end, the run is handed back (suspended) in one fenced write that
 * says when it resumes anyway (a time, a timeout, never) and what wakes it sooner (an event,
 * a child finishing); the write that satisfies the wait wakes it. Once it ends, its outcome
 * is recorded like any step's and replayed ever after: a wake-up is only a reason to look
 * again, never the result itself.
 */
import {
  CancelledError,
  InvalidArgumentError,
  RunFailedError,
  rejectUnknownKeys,
  SerializationError,
  TimeoutError,
} from '../errors.js'
import { flowOfRun } from '../flow.js'
import {
  type InvokeOptions,
  parseWithSchema,
  type StepContext,
  type WaitForEventOptions,
} from '../job.js'
import { toJson } from '../serialize.js'
import {
  type EventQuery,
  type Lease,
  NEVER,
  type NewStep,
  type RecordedStep,
} from '../store/store.js'
import { isTerminal, type Run, type WaitingFor } from '../types.js'
import type { ExecutionControl } from './control.js'
import { type Core, isoNow } from './core.js'
import { engineQuery } from './persist.js'
import type { Suspend } from './suspend.js'

/** A step that is to execute now: what committing its outcome needs. */
export interface BegunStep {
  name: string
  index: number
  startedAt: number
}

export type StepOutcome = { ok: true; json: string | null } | { ok: false; error: string }

/** What the step context lends the waits: numbering, recording, and the fenced writes. */
export interface StepKit {
  core: Core
  jobName: string
  runId: string
  lease: Lease
  control: ExecutionControl
  recordedSteps: readonly RecordedStep[]
  /** The wait the run was suspended in when claimed, if any. */
  resumedWait: WaitingFor | null
  beginStep(name: string): { recorded: RecordedStep } | { begun: BegunStep }
  stepRecord(step: BegunStep, outcome: StepOutcome): NewStep
  commitStep(step: BegunStep, outcome: StepOutcome): Promise<void>
  fenced(write: () => Promise<boolean>): Promise<void>
  suspend: Suspend
}

type Waits = Pick<StepContext, 'sleep' | 'sleepUntil' | 'waitForEvent' | 'invoke'>

/** The recorded output of a wait for an event: the event taken, or the timeout. */
type EventOutcome = { eventId: string; data: unknown } | { eventId: null; timedOut: true }

export function createWaits(kit: StepKit): Waits {
  const { core, jobName, runId, control } = kit
  // A run takes each event once: the events its finished waits took are not offered again.
  const consumed = new Set<string>()
  for (const step of kit.recordedSteps) {
    const id = step.output.ok ? eventIdOf(step.output.value) : undefined
    if (id) consumed.add(id)
  }

  const suspend = kit.suspend

  /**
   * The deadline of a wait: the one recorded when the run first suspended in it (a timeout
   * does not restart because the run was woken to look again), else from now.
   */
  function deadlineOf(kind: 'event' | 'child', name: string, index: number, timeout?: number) {
    const resumed = kit.resumedWait
    if (resumed?.kind === kind && resumed.step === name && resumed.stepIndex === index) {
      return resumed.until ?? NEVER
    }
    return timeout === undefined ? NEVER : new Date(core.now() + timeout).toISOString()
  }

  /** A query of this wait; a database that fails it hands the run back. */
  const query = <T>(run: () => Promise<T>) => engineQuery(core, control, 'wait', runId, run)

  /**
   * A durable sleep is a step whose output is its wake-up time. The first time, the step is
   * recorded and the run handed back (claimable at that time) in one fenced write. On
   * replay the recorded time wins: past it, the sleep returns at once; before it (woken
   * early, by a retry, say), the run is handed back again.
   */
  async function sleepUntil(method: string, name: unknown, until: number): Promise<void> {
    checkStepName(method, name, runId)
    const started = kit.beginStep(name)
    let wakeAt: string
    let record: NewStep | undefined
    if ('recorded' in started) {
      wakeAt = recordedWakeTime(started.recorded, name, runId)
      if (Date.parse(wakeAt) <= core.now()) return
    } else {
      wakeAt = new Date(until).toISOString()
      const json = JSON.stringify({ until: wakeAt })
      if (until <= core.now()) return kit.commitStep(started.begun, { ok: true, json })
      record = kit.stepRecord(started.begun, { ok: true, json })
    }
    await suspend(
      { kind: 'sleep', until: wakeAt, step: name },
      { ...(record ? { step: record } : {}), availableAt: wakeAt },
    )
  }

  async function waitForEvent<TData>(
    name: string,
    options: WaitForEventOptions<TData>,
  ): Promise<TData | null> {
    checkStepName('waitForEvent', name, runId)
    const { event, match, timeout, schema } = checkWaitOptions(name, options, runId)
    const parse = async (data: unknown) =>
      (schema
        ? await parseWithSchema(schema, data, `Event "${event}" for step "${name}" of run ${runId}`)
        : data) as TData
    const started = kit.beginStep(name)
    if ('recorded' in started) {
      const outcome = recordedEventOutcome(started.recorded, name, runId)
      return outcome.eventId === null ? null : parse(outcome.data)
    }
    const step = started.begun
    const eventQuery: EventQuery = {
      event,
      keys: JSON.stringify(Object.keys(match).sort()),
      match: toJson(match, `step.waitForEvent("${name}"): match`) ?? '{}',
      consumed: [...consumed],
    }
    const found = await query(() => core.store.findEvent(runId, eventQuery))
    if (found) {
      if (!found.data.ok) throw new SerializationError(found.data.problem)
      const data = await parse(found.data.value)
      const outcome: EventOutcome = { eventId: found.id, data: found.data.value }
      await kit.commitStep(step, { ok: true, json: JSON.stringify(outcome) })
      consumed.add(found.id)
      core.emitter.emit({
        type: 'event:receive',
        runId,
        jobName,
        stepName: name,
        eventId: found.id,
        event,
      })
      return data
    }
    const until = deadlineOf('event', name, step.index, timeout)
    if (Date.parse(until) <= core.now()) {
      const outcome: EventOutcome = { eventId: null, timedOut: true }
      await kit.commitStep(step, { ok: true, json: JSON.stringify(outcome) })
      return null
    }
    return suspend(
      {
        kind: 'event',
        step: name,
        stepIndex: step.index,
        event,
        ...(Object.keys(match).length > 0 ? { match } : {}),
        ...(until === NEVER ? {} : { until }),
      },
      { availableAt: until, condition: { kind: 'event', ...eventQuery } },
    )
  }

  async function invoke(
    name: string,
    job: { readonly name: string },
    input: unknown,
    options?: InvokeOptions,
  ): Promise<never> {
    checkStepName('invoke', name, runId)
    const where = `step.invoke("${name}") in run ${runId}`
    const childJobName = (job as { name?: unknown } | null)?.name
    if (typeof childJobName !== 'string') {
      throw new InvalidArgumentError(`${where}: expected a job definition or handle`)
    }
    const definition = core.definitionOf(childJobName)
    if (!definition) {
      throw new InvalidArgumentError(
        `${where}: job "${childJobName}" is not registered on this instance`,
      )
    }
    const timeout = checkInvokeOptions(options, where)
    const started = kit.beginStep(name)
    if ('recorded' in started) {
      const { output } = started.recorded
      if (!output.ok) throw new SerializationError(output.problem)
      return output.value as never
    }
    const step = started.begun
    const child = await createChild(definition.input, childJobName, input, step, where)
    const finish = (status: 'completed' | 'failed' | 'cancelled' | 'timed-out') =>
      core.emitter.emit({
        type: 'child:finish',
        runId,
        jobName,
        stepName: name,
        childRunId: child.id,
        childJobName,
        status,
      })
    if (isTerminal(child.status)) {
      if (child.status === 'completed') {
        const json = toJson(child.output, `Output of child run ${child.id}`)
        await kit.commitStep(step, { ok: true, json })
        finish('completed')
        return child.output as never
      }
      const error =
        child.status === 'failed'
          ? new RunFailedError(child.id, child.error ?? `Child run ${child.id} failed`)
          : new CancelledError(child.id, `Child run ${child.id} (${childJobName}) was cancelled`)
      await kit.commitStep(step, { ok: false, error: error.message })
      finish(child.status)
      throw error
    }
    const until = deadlineOf('child', name, step.index, timeout)
    if (Date.parse(until) <= core.now()) {
      const error = new TimeoutError(
        `${where}: child run ${child.id} (${childJobName}) did not finish within ${timeout ?? 0} ms`,
      )
      await kit.commitStep(step, { ok: false, error: error.message })
      // Nothing waits for it any more.
      if (await core.store.cancelRun(child.id, isoNow(core))) {
        core.emitter.emit({ type: 'run:cancel', runId: child.id, jobName: childJobName })
      }
      finish('timed-out')
      throw error
    }
    return suspend(
      {
        kind: 'child',
        step: name,
        stepIndex: step.index,
        runId: child.id,
        jobName: childJobName,
        ...(until === NEVER ? {} : { until }),
      },
      { availableAt: until, condition: { kind: 'child', childRunId: child.id } },
    )
  }

  /** The child run of this step: created on the first execution, found on every other. */
  async function createChild(
    schema: Parameters<typeof parseWithSchema>[0],
    childJobName: string,
    input: unknown,
    step: { name: string; index: number },
    where: string,
  ): Promise<Run> {
    const payload = await parseWithSchema(schema, input, `${where}: the input`)
    // A child counts against its job's concurrency and throttle like any run (a debounce
    // would make no sense for a run its parent waits on, and is not applied).
    const definition = core.definitionOf(childJobName)
    const flow = definition ? flowOfRun(definition, payload, where) : {}
    const createdAt = isoNow(core)
    const [result] = await query(() =>
      core.store.insertRuns([
        {
          id: core.newId(),
          jobName: childJobName,
          payload: toJson(payload, `${where}: the input`) ?? 'null',
          // One child per parent step, however many times the parent replays it.
          idempotencyKey: `invoke:${runId}:${step.index}`,
          concurrencyKey: flow.concurrencyKey ?? null,
          ...(flow.concurrencyLimit ? { concurrencyLimit: flow.concurrencyLimit } : {}),
          ...(flow.throttle ? { throttle: flow.throttle } : {}),
          createdAt,
          availableAt: createdAt,
          waitingFor: null,
          parentRunId: runId,
          traceContext: core.captureTraceContext?.(childJobName, runId) ?? null,
        },
      ]),
    )
    const { run: child, created } = result!
    if (created) {
      core.emitter.emit({ type: 'run:trigger', runId: child.id, jobName: childJobName, payload })
      core.emitter.emit({
        type: 'child:start',
        runId,
        jobName,
        stepName: step.name,
        childRunId: child.id,
        childJobName,
      })
      core.wake()
    }
    return child
  }

  return {
    sleep(name, ms) {
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
        return Promise.reject(
          new InvalidArgumentError(
            `step.sleep("${String(name)}") in run ${runId}: ms must be a finite, non-negative number, got ${String(ms)}`,
          ),
        )
      }
      return sleepUntil('sleep', name, core.now() + ms)
    },
    sleepUntil(name, until) {
      const at =
        until instanceof Date
          ? until.getTime()
          : typeof until === 'string'
            ? Date.parse(until)
            : Number.NaN
      if (Number.isNaN(at)) {
        return Promise.reject(
          new InvalidArgumentError(
            `step.sleepUntil("${String(name)}") in run ${runId}: expected a Date or an ISO-8601 string`,
          ),
        )
      }
      return sleepUntil('sleepUntil', name, at)
    },
    waitForEvent,
    invoke: invoke as Waits['invoke'],
  }
}

function checkStepName(method: string, name: unknown, runId: string): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidArgumentError(
      `step.${method} in run ${runId}: the step name must be a non-empty string`,
    )
  }
}

const WAIT_OPTION_KEYS = [
  'event',
  'match',
  'timeout',
  'schema',
] as const satisfies readonly (keyof WaitForEventOptions)[]
const INVOKE_OPTION_KEYS = ['timeout'] as const satisfies readonly (keyof InvokeOptions)[]

function checkWaitOptions<TData>(
  name: string,
  options: WaitForEventOptions<TData>,
  runId: string,
): WaitForEventOptions<TData> & { match: Record<string, unknown> } {
  const where = `step.waitForEvent("${name}") in run ${runId}`
  if (!options || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidArgumentError(`${where}: options { event, match?, timeout? } are required`)
  }
  rejectUnknownKeys(options, WAIT_OPTION_KEYS, where)
  const { event, match = {}, timeout, schema } = options
  checkEventName(event, where)
  checkMatch(match, where)
  checkTimeout(timeout, where)
  if (
    schema !== undefined &&
    typeof (schema as { safeParseAsync?: unknown })?.safeParseAsync !== 'function'
  ) {
    throw new InvalidArgumentError(`${where}: schema must be a zod schema`)
  }
  return { ...options, match }
}

function checkInvokeOptions(options: InvokeOptions | undefined, where: string): number | undefined {
  if (options === undefined) return undefined
  if (!options || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidArgumentError(`${where}: options must be an object`)
  }
  rejectUnknownKeys(options, INVOKE_OPTION_KEYS, where)
  checkTimeout(options.timeout, where)
  return options.timeout
}

export function checkEventName(event: unknown, where: string): asserts event is string {
  if (typeof event !== 'string' || event.length === 0 || event.length > 1024) {
    throw new InvalidArgumentError(
      `${where}: the event name must be a non-empty string of at most 1024 characters`,
    )
  }
}

function checkMatch(match: unknown, where: string): asserts match is Record<string, unknown> {
  const plain =
    match !== null &&
    typeof match === 'object' &&
    (Object.getPrototypeOf(match) === Object.prototype || Object.getPrototypeOf(match) === null)
  if (!plain) throw new InvalidArgumentError(`${where}: match must be a plain object`)
  for (const [key, value] of Object.entries(match)) {
    // Keys become JSON paths in SQLite; quotes and backslashes cannot be written there.
    if (key.length === 0 || /["\\]/.test(key)) {
      throw new InvalidArgumentError(
        `${where}: match key ${JSON.stringify(key)} must be non-empty, without quotes or backslashes`,
      )
    }
    if (value === undefined) {
      throw new InvalidArgumentError(`${where}: match.${key} is undefined (JSON cannot compare it)`)
    }
  }
}

function checkTimeout(timeout: unknown, where: string): void {
  if (
    timeout !== undefined &&
    (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 0)
  ) {
    throw new InvalidArgumentError(
      `${where}: timeout must be a finite, non-negative number of milliseconds, got ${String(timeout)}`,
    )
  }
}

function eventIdOf(output: unknown): string | undefined {
  if (output === null || typeof output !== 'object') return undefined
  const id = (output as { eventId?: unknown }).eventId
  return typeof id === 'string' && 'data' in output ? id : undefined
}

function recordedEventOutcome(recorded: RecordedStep, name: string, runId: string): EventOutcome {
  const value = recorded.output.ok ? recorded.output.value : undefined
  if (value !== null && typeof value === 'object') {
    const outcome = value as Partial<{ eventId: unknown; data: unknown; timedOut: unknown }>
    if (typeof outcome.eventId === 'string' && 'data' in outcome) {
      return { eventId: outcome.eventId, data: outcome.data }
    }
    if (outcome.eventId === null && outcome.timedOut === true)
      return { eventId: null, timedOut: true }
  }
  throw new SerializationError(
    recorded.output.ok
      ? `Step "${name}" of run ${runId} is not a recorded wait for an event (was a step renamed?)`
      : recorded.output.problem,
  )
}

function recordedWakeTime(recorded: RecordedStep, name: string, runId: string): string {
  const until =
    recorded.output.ok &&
    recorded.output.value !== null &&
    typeof recorded.output.value === 'object'
      ? (recorded.output.value as { until?: unknown }).until
      : undefined
  if (typeof until !== 'string' || Number.isNaN(Date.parse(until))) {
    throw new SerializationError(
      `Step "${name}" of run ${runId} is not a recorded sleep (was a step.run renamed to a sleep?)`,
    )
  }
  return until
}
