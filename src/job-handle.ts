/**
 * The handle `register` returns for a job: trigger (validate, store, wake the worker),
 * triggerAndWait, batchTrigger and typed reads.
 */
import type { Core } from './engine/core.js'
import { InvalidArgumentError, ValidationError } from './errors.js'
import { flowOfRun, type RunFlow } from './flow.js'
import {
  type AnyJobDefinition,
  type BatchTriggerInput,
  type JobHandle,
  parseWithSchema,
  splitBatchItem,
  startOf,
  type TriggerOptions,
  validateTriggerOptions,
} from './job.js'
import { validateRunFilter } from './runs.js'
import { toJson } from './serialize.js'
import { readRunWithBlocker } from './sightings.js'
import type { CreatedRun, NewRun } from './store/store.js'
import type { Run, RunFilter, WaitingFor } from './types.js'
import { waitForRun } from './watch.js'

export function createJobHandle(
  core: Core,
  definition: AnyJobDefinition,
): JobHandle<string, never, unknown> {
  const jobName = definition.name

  async function prepare(
    input: unknown,
    rawOptions: unknown,
    subject: string,
    inputSubject = `Input of job "${jobName}"`,
  ): Promise<NewRun> {
    const options = validateTriggerOptions(rawOptions, subject)
    const payload = await parseWithSchema(definition.input, input, inputSubject)
    const flow = flowOfRun(definition, payload, subject)
    const now = core.now()
    const createdAt = new Date(now).toISOString()
    if (flow.debounce) return debounced(payload, options, flow, flow.debounce, now, subject)
    const start = startOf(options, now, subject)
    const availableAt = start === undefined ? createdAt : new Date(start).toISOString()
    const waitingFor: WaitingFor | null =
      start !== undefined && start > now ? { kind: 'delay', until: availableAt } : null
    return {
      id: core.newId(),
      jobName,
      payload: toJson(payload, `Input of job "${jobName}"`) ?? 'null',
      idempotencyKey: options.idempotencyKey ?? null,
      createdAt,
      availableAt,
      waitingFor: waitingFor && JSON.stringify(waitingFor),
      parentRunId: null,
      traceContext: core.captureTraceContext?.(jobName) ?? null,
      ...flowColumns(options, flow),
    }
  }

  /** A debounced run starts `period` after its last trigger, never past its first's `maxWait`. */
  function debounced(
    payload: unknown,
    options: TriggerOptions,
    flow: RunFlow,
    debounce: NonNullable<RunFlow['debounce']>,
    now: number,
    subject: string,
  ): NewRun {
    for (const name of ['delay', 'runAt', 'idempotencyKey'] as const) {
      if (options[name] !== undefined) {
        throw new ValidationError(
          `${subject}: "${name}" cannot be used with a debounced job: the debounce decides the start, and a trigger within the period replaces the pending run`,
        )
      }
    }
    const { key, period, maxWait } = debounce
    const until = new Date(now + period).toISOString()
    const latest = maxWait === undefined ? undefined : new Date(now + maxWait).toISOString()
    const waitingFor: WaitingFor = { kind: 'debounce', key, until, ...(latest ? { latest } : {}) }
    return {
      id: core.newId(),
      jobName,
      payload: toJson(payload, `Input of job "${jobName}"`) ?? 'null',
      idempotencyKey: null,
      createdAt: new Date(now).toISOString(),
      availableAt: until,
      waitingFor: JSON.stringify(waitingFor),
      parentRunId: null,
      traceContext: core.captureTraceContext?.(jobName) ?? null,
      debounce: { key, latest: latest ?? null },
      ...flowColumns(options, flow),
    }
  }

  async function store(run: NewRun) {
    return run.debounce
      ? core.store.debounceRun(run)
      : ((await core.store.insertRuns([run]))[0] as CreatedRun)
  }

  function announce(run: Run) {
    core.emitter.emit({ type: 'run:trigger', runId: run.id, jobName, payload: run.payload })
  }

  async function trigger(input: unknown, options?: TriggerOptions): Promise<Run> {
    return storeTriggered(await prepare(input, options, `trigger("${jobName}")`))
  }

  async function storeTriggered(prepared: NewRun): Promise<Run> {
    await core.ready()
    // An embedded database answers at once, so a host triggering in a tight loop would hold
    // the event loop until its last trigger and the woken worker would start nothing before:
    // past the instance's budget, the worker's turn comes first. Before the insert, so the
    // caller still resumes right after its own run is stored.
    await core.yieldToHost()
    const { run, created } = await store(prepared)
    if (created) {
      announce(run)
      core.wake()
    }
    return run
  }

  const handle: JobHandle<string, unknown, unknown> = {
    name: jobName,
    input: definition.input,
    trigger,

    async triggerAndWait(input, options) {
      const began = core.now()
      const timeout = options?.timeout
      const prepared = await prepare(input, options, `trigger("${jobName}")`)
      // Listening before the run is stored, nothing it emits can come first: no first read
      // of its row (one statement fewer a call). Polling, once it is stored, still sees
      // another process end it.
      let markStored = () => {}
      const stored = new Promise<void>((resolve) => {
        markStored = resolve
      })
      const waiting = waitForRun(core, prepared.id, timeout, { stored })
      waiting.settled.catch(() => {}) // a timeout during the insert is the caller's, below
      let run: Run
      try {
        run = await storeTriggered(prepared)
      } catch (error) {
        waiting.cancel()
        throw error
      }
      if (run.id === prepared.id) {
        markStored()
        return waiting.settled
      }
      // An idempotency or debounce key returned an earlier run, which may have settled.
      waiting.cancel()
      const left = timeout === undefined ? undefined : Math.max(0, timeout - (core.now() - began))
      return waitForRun(core, run.id, left).settled
    },

    async batchTrigger(inputs: BatchTriggerInput<unknown>[]) {
      if (!Array.isArray(inputs)) {
        throw new InvalidArgumentError(`batchTrigger("${jobName}"): expected an array of inputs`)
      }
      // Validate every input before storing anything: one bad item rejects the whole batch.
      const prepared: NewRun[] = []
      for (const [index, item] of inputs.entries()) {
        const { input, options } = splitBatchItem(item)
        const where = `batchTrigger("${jobName}") item ${index}`
        prepared.push(await prepare(input, options, where, `${where}: the input`))
      }
      if (prepared.length === 0) return []
      await core.ready()
      // Debounced runs settle one by one: each trigger may replace the run the previous made.
      const results = definition.debounce
        ? await sequentially(prepared, store)
        : await core.store.insertRuns(prepared)
      for (const { run, created } of results) if (created) announce(run)
      if (results.some((result) => result.created)) core.wake()
      return results.map((result) => result.run)
    },

    async getRun(id) {
      await core.ready()
      const run = await readRunWithBlocker(core, id)
      return run?.jobName === jobName ? run : null
    },

    async getRuns(filter?: Omit<RunFilter, 'jobName'>) {
      const checked = validateRunFilter(filter, `getRuns("${jobName}")`)
      await core.ready()
      return core.store.getRuns({ ...checked, jobName })
    },
  }
  return handle as JobHandle<string, never, unknown>
}

/**
 * The flow columns of a run: the trigger's `concurrencyKey` (the spec's one-at-a-time) wins
 * over the job's `concurrency`; `priority` 0 is stored as none, so the run stays on the
 * plain claim path.
 */
function flowColumns(
  options: TriggerOptions,
  flow: RunFlow,
): Pick<NewRun, 'concurrencyKey' | 'concurrencyLimit' | 'throttle' | 'priority'> {
  const concurrencyKey = options.concurrencyKey ?? flow.concurrencyKey ?? null
  return {
    concurrencyKey,
    ...(options.concurrencyKey === undefined && flow.concurrencyLimit !== undefined
      ? { concurrencyLimit: flow.concurrencyLimit }
      : {}),
    ...(flow.throttle ? { throttle: flow.throttle } : {}),
    ...(options.priority ? { priority: options.priority } : {}),
  }
}

async function sequentially<T, R>(
  items: readonly T[],
  each: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = []
  for (const item of items) results.push(await each(item))
  return results
}
