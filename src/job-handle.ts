/**
 * The handle `register` returns for a job: trigger (validate, store, wake the worker),
 * triggerAndWait, batchTrigger and typed reads.
 */
import type { Core } from './engine/core.js'
import { InvalidArgumentError } from './errors.js'
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
import type { NewRun } from './store/store.js'
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
    const now = core.now()
    const createdAt = new Date(now).toISOString()
    const start = startOf(options, now, subject)
    const availableAt = start === undefined ? createdAt : new Date(start).toISOString()
    const waitingFor: WaitingFor | null =
      start !== undefined && start > now ? { kind: 'delay', until: availableAt } : null
    return {
      id: core.newId(),
      jobName,
      payload: toJson(payload, `Input of job "${jobName}"`) ?? 'null',
      idempotencyKey: options.idempotencyKey ?? null,
      concurrencyKey: options.concurrencyKey ?? null,
      createdAt,
      availableAt,
      waitingFor: waitingFor && JSON.stringify(waitingFor),
      parentRunId: null,
      traceContext: core.captureTraceContext?.(jobName) ?? null,
    }
  }

  function announce(run: Run) {
    core.emitter.emit({ type: 'run:trigger', runId: run.id, jobName, payload: run.payload })
  }

  async function trigger(input: unknown, options?: TriggerOptions): Promise<Run> {
    const prepared = await prepare(input, options, `trigger("${jobName}")`)
    await core.ready()
    const [{ run, created }] = (await core.store.insertRuns([prepared])) as [
      { run: Run; created: boolean },
    ]
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
      const run = await trigger(input, options)
      return waitForRun(core, run.id, options?.timeout)
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
      const results = await core.store.insertRuns(prepared)
      for (const { run, created } of results) if (created) announce(run)
      if (results.some((result) => result.created)) core.wake()
      return results.map((result) => result.run)
    },

    async getRun(id) {
      await core.ready()
      const run = await core.store.getRun(id)
      return run && run.jobName === jobName ? run : null
    },

    async getRuns(filter?: Omit<RunFilter, 'jobName'>) {
      const checked = validateRunFilter(filter, `getRuns("${jobName}")`)
      await core.ready()
      return core.store.getRuns({ ...checked, jobName })
    },
  }
  return handle as JobHandle<string, never, unknown>
}
