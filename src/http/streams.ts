/**
 * The event sources behind the two SSE routes. Each returns what undoes it, so a client that
 * goes away takes its reader or its listeners with it.
 */
import { type DurablyEvent, RUN_EVENT_TYPES } from '../events.js'
import type { Run } from '../types.js'
import type { StreamError } from './response.js'
import type { EventSource } from './sse.js'
import type { DurablyLike } from './types.js'

export type StreamItem = DurablyEvent | StreamError | Run | LeasedFrame

/**
 * `@coji/durably-react` 0.15's name for a run a worker took (our `run:start`), sent only with
 * the handler's `leasedEvents` option. It is not one of our events: `durably.on` never
 * sees it, and it goes without an `id` so `Last-Event-ID` keeps naming real events.
 */
export interface LeasedFrame {
  type: 'run:leased'
  runId: string
  jobName: string
  timestamp: string
}

const leasedFrame = (runId: string, jobName: string, timestamp: string): LeasedFrame => ({
  type: 'run:leased',
  runId,
  jobName,
  timestamp,
})

/**
 * One run's events until its terminal one; a failure of the reader becomes the last event.
 * First comes the run as it was when the client asked, as a named `snapshot` event: a page
 * that subscribes right after triggering learns the state it would otherwise have missed,
 * and `onmessage` handlers written for plain events never see it.
 */
export const runEvents =
  (
    durably: DurablyLike,
    snapshot: Run,
    failure: (error: unknown) => StreamError,
    leased = false,
  ): EventSource<StreamItem> =>
  (sink) => {
    sink.send(snapshot, { event: 'snapshot' })
    // durably-react 0.15 ignores the named snapshot; a run already running is said its way.
    if (leased && snapshot.status === 'running') {
      sink.send(leasedFrame(snapshot.id, snapshot.jobName, new Date().toISOString()))
    }
    const reader = durably.subscribe(snapshot.id).getReader()
    let reading = true
    void (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read()
          if (done || !reading) break
          sink.send(value, { id: String(value.sequence) })
          if (leased && value.type === 'run:start') {
            sink.send(leasedFrame(value.runId, value.jobName, value.timestamp))
          }
        }
      } catch (error) {
        if (reading) sink.send(failure(error))
      }
      sink.end()
    })()
    return () => {
      reading = false
      void reader.cancel().catch(() => undefined)
    }
  }

/** Run-level events of every run, of one job when `jobName` is given; never ends by itself. */
export const allRunEvents =
  (durably: DurablyLike, jobName: string | undefined, leased = false): EventSource<StreamItem> =>
  (sink) => {
    const offs = RUN_EVENT_TYPES.map((type) =>
      durably.on(type, (event) => {
        if (jobName !== undefined && event.jobName !== jobName) return
        sink.send(event, { id: String(event.sequence) })
        if (leased && event.type === 'run:start') {
          sink.send(leasedFrame(event.runId, event.jobName, event.timestamp))
        }
      }),
    )
    return () => {
      for (const off of offs) off()
    }
  }
