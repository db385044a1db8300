/**
 * `subscribe(runId)`: the run's events as a `ReadableStream`. It closes after the run's
 * terminal event; if the run had already settled when the stream opened, or settles in
 * another process, the terminal event is read from the database and sent before closing.
 * Cancelling the stream (a reader that goes away) removes every listener and timer.
 */
import type { Core } from './core.js'
import { NotFoundError } from './errors.js'
import type { DurablyEvent, EventInput, RunEvent } from './events.js'
import { isTerminal, type Run } from './types.js'

const TERMINAL_TYPES: ReadonlySet<string> = new Set([
  'run:complete',
  'run:fail',
  'run:cancel',
  'run:delete',
])

export function subscribeToRun(core: Core, runId: string): ReadableStream<DurablyEvent> {
  let cleanup = () => {}
  return new ReadableStream<DurablyEvent>({
    start(controller) {
      let open = true
      let poller: ReturnType<typeof setInterval> | undefined
      const unsubscribe = core.emitter.onRun(runId, (event) => {
        if (!open) return
        controller.enqueue(event)
        if (TERMINAL_TYPES.has(event.type)) close()
      })
      cleanup = () => {
        open = false
        unsubscribe()
        clearInterval(poller)
      }
      const close = () => {
        cleanup()
        controller.close()
      }
      const check = async (first: boolean) => {
        let run: Run | null
        try {
          run = await core.store.getRun(runId)
        } catch (error) {
          if (first && open) {
            cleanup()
            controller.error(error)
          }
          return
        }
        if (!open) return
        if (!run) {
          cleanup()
          if (first) controller.error(new NotFoundError(`Run ${runId} not found`))
          else controller.close()
          return
        }
        if (isTerminal(run.status)) {
          controller.enqueue(core.emitter.stamp(terminalEventOf(run)))
          close()
        }
      }
      void check(true).then(() => {
        if (open) poller = setInterval(() => void check(false), core.options.pollingInterval)
      })
    },
    cancel() {
      cleanup()
    },
  })
}

export function terminalEventOf(run: Run): EventInput<RunEvent> {
  const base = { runId: run.id, jobName: run.jobName }
  switch (run.status) {
    case 'completed':
      return { type: 'run:complete', ...base, output: run.output, duration: durationOf(run) }
    case 'failed':
      return { type: 'run:fail', ...base, error: run.error ?? 'failed' }
    default:
      return { type: 'run:cancel', ...base }
  }
}

function durationOf(run: Run): number {
  if (!run.startedAt || !run.completedAt) return 0
  return Math.max(0, Date.parse(run.completedAt) - Date.parse(run.startedAt))
}
