/**
 * The hooks over an instance in the page (SQLocal in a browser app): the same contract as
 * over HTTP, answered by calling the instance and listening to its events. A run is read
 * first, then followed through `durably.subscribe`, as the handler's SSE route does.
 */
import { type DurablyEvent, RUN_EVENT_TYPES } from '../events.js'
import type { Durably } from '../index.js'
import { clientErrorOf, DurablyClientError } from './errors.js'
import type { Transport } from './transport.js'

/**
 * What the hooks use of a local instance. `signal` is used by `useSignal` when the instance
 * has it.
 */
export type LocalDurably = Pick<
  Durably,
  'getJob' | 'getRun' | 'getRuns' | 'retry' | 'cancel' | 'deleteRun' | 'subscribe' | 'on'
> & {
  signal?(runId: string, name: string, data: unknown, options?: { id?: string }): Promise<unknown>
}

/** Call the instance; whatever it throws becomes a `DurablyClientError` with its code. */
async function calling<T>(operation: () => Promise<T>, runId?: string): Promise<T> {
  try {
    return await operation()
  } catch (error) {
    throw clientErrorOf(error, runId)
  }
}

export function localTransport(durably: LocalDurably): Transport {
  return {
    trigger: (jobName, input, options) =>
      calling(async () => {
        const job = durably.getJob(jobName)
        if (!job) {
          throw new DurablyClientError(`Job not found: ${jobName}`, { code: 'NOT_FOUND' })
        }
        return (await job.trigger(input, options)).id
      }),
    getRun: (runId) => calling(() => durably.getRun(runId), runId),
    getRuns: (filter) => calling(() => durably.getRuns(filter)),
    retry: (runId) => calling(() => durably.retry(runId), runId),
    cancel: (runId) => calling(() => durably.cancel(runId), runId),
    deleteRun: (runId) => calling(() => durably.deleteRun(runId), runId),
    signal: (runId, name, data, options) =>
      calling(async () => {
        if (typeof durably.signal !== 'function') {
          throw new DurablyClientError('This durably instance has no signal()', {
            code: 'INVALID_ARGUMENT',
          })
        }
        await durably.signal(runId, name, data, options)
      }, runId),

    followRun(runId, sink) {
      let open = true
      let reader: ReadableStreamDefaultReader<DurablyEvent> | undefined
      void (async () => {
        try {
          const run = await durably.getRun(runId)
          if (!open) return
          if (!run) {
            return sink.error(
              new DurablyClientError(`Run ${runId} not found`, { code: 'NOT_FOUND', runId }),
            )
          }
          sink.snapshot(run)
          reader = durably.subscribe(runId).getReader()
          if (!open) return void reader.cancel().catch(() => undefined)
          for (;;) {
            const { done, value } = await reader.read()
            if (done || !open) return
            sink.event(value)
          }
        } catch (error) {
          if (open) sink.error(clientErrorOf(error, runId))
        }
      })()
      return () => {
        open = false
        void reader?.cancel().catch(() => undefined)
      }
    },

    followRuns(jobName, sink) {
      const offs = RUN_EVENT_TYPES.map((type) =>
        durably.on(type, (event) => {
          if (jobName === undefined || event.jobName === jobName) sink.event(event)
        }),
      )
      sink.open()
      return () => {
        for (const off of offs) off()
      }
    },
  }
}
