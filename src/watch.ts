/**
 * Watching one run until it settles, written once. `watchRun` listens to the run's events,
 * then reads its row (so a run that settled before we listened is not missed; skipped when
 * the watch began before the run was stored), then polls the row every `pollingInterval`
 * (so a run settled by another process is seen too). Its terminal event, heard or read back
 * from the row, is the last thing it reports.
 *
 * `subscribe(runId)` (a ReadableStream), `triggerAndWait` (a Promise) and the HTTP SSE
 * routes are built on it.
 */
import type { Core } from './engine/core.js'
import { CancelledError, NotFoundError, RunFailedError, TimeoutError } from './errors.js'
import {
  type DurablyEvent,
  type EventInput,
  isTerminalEvent,
  type RunEvent,
  type TerminalEvent,
} from './events.js'
import { isTerminal, type Run } from './types.js'

export interface RunWatcher {
  /** Every event of the run, in order; the terminal one last. */
  onEvent(event: RunEvent): void
  /** Nothing more will come: after the terminal event, or once the run is gone. */
  onEnd(reason: 'settled' | 'gone'): void
  /** The run does not exist, or could not be read when the watch began. */
  onError(error: unknown): void
}

export interface WatchOptions {
  /**
   * For a watch begun before the run was stored: settles once it is. Nothing the run emits
   * can come before, so its row is not read first, and polling starts only then (a poll
   * before would find no row and take the run for deleted).
   */
  stored?: Promise<void>
}

/** Start watching; returns what stops it (idempotent). */
export function watchRun(
  core: Core,
  runId: string,
  watcher: RunWatcher,
  { stored }: WatchOptions = {},
): () => void {
  let open = true
  let poller: ReturnType<typeof setInterval> | undefined
  const stop = () => {
    open = false
    unsubscribe()
    clearInterval(poller)
  }
  const end = (reason: 'settled' | 'gone') => {
    stop()
    watcher.onEnd(reason)
  }
  const unsubscribe = core.emitter.onRun(runId, (event) => {
    if (!open) return
    watcher.onEvent(event)
    if (isTerminalEvent(event)) end('settled')
  })
  const check = async (first: boolean) => {
    let run: Run | null
    try {
      run = await core.store.getRun(runId)
    } catch (error) {
      // Later reads are retried at the next poll; the run itself is unaffected.
      if (first && open) {
        stop()
        watcher.onError(error)
      }
      return
    }
    if (!open) return
    if (!run) {
      if (!first) return end('gone')
      stop()
      return watcher.onError(new NotFoundError(`Run ${runId} not found`))
    }
    if (isTerminal(run.status)) {
      watcher.onEvent(core.emitter.stamp(terminalEventOf(run)))
      end('settled')
    }
  }
  const poll = () => {
    if (open) poller = setInterval(() => void check(false), core.options.pollingInterval)
  }
  if (stored) void stored.then(poll)
  else void check(true).then(poll)
  return stop
}

/** `subscribe(runId)`: the run's events as a stream that closes after its terminal event. */
export function subscribeToRun(core: Core, runId: string): ReadableStream<DurablyEvent> {
  let stop = () => {}
  return new ReadableStream<DurablyEvent>({
    start(controller) {
      stop = watchRun(core, runId, {
        onEvent: (event) => controller.enqueue(event),
        onEnd: () => controller.close(),
        onError: (error) => controller.error(error),
      })
    },
    cancel() {
      stop()
    },
  })
}

export interface Settled {
  id: string
  output: unknown
}

export interface Waiting {
  /** The run's output once it completes; rejects if it fails, is cancelled or goes. */
  settled: Promise<Settled>
  /** Stop waiting: `settled` then never settles. */
  cancel(): void
}

export function waitForRun(
  core: Core,
  runId: string,
  timeout?: number,
  options: WatchOptions = {},
): Waiting {
  let cancel = () => {}
  const settled = new Promise<Settled>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const finish = (outcome: () => void) => {
      clearTimeout(timer)
      stop()
      outcome()
    }
    const gone = () => new NotFoundError(`Run ${runId} does not exist (was it deleted?)`)
    const stop = watchRun(
      core,
      runId,
      {
        onEvent(event) {
          if (isTerminalEvent(event)) finish(() => settle(event))
        },
        onEnd: (reason) => {
          if (reason === 'gone') finish(() => reject(gone()))
        },
        onError: (error) => finish(() => reject(error)),
      },
      options,
    )
    cancel = () => finish(() => {})
    const settle = (event: TerminalEvent) => {
      switch (event.type) {
        case 'run:complete':
          return resolve({ id: runId, output: event.output })
        case 'run:fail':
          return reject(new RunFailedError(runId, event.error))
        case 'run:cancel':
          return reject(new CancelledError(runId))
        case 'run:delete':
          return reject(gone())
      }
    }
    if (timeout !== undefined) {
      timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new TimeoutError(
                `Run ${runId} did not finish within the ${timeout} ms timeout; ${
                  core.workerStarted()
                    ? 'the run itself goes on'
                    : 'it stays pending until a worker runs it, and this instance has none started (call durably.init())'
                }`,
              ),
            ),
          ),
        timeout,
      )
    }
  })
  // The executor ran already: `cancel` is the watch's own.
  return { settled, cancel }
}

/** The event a terminal row stands for, for watchers who arrive after it was emitted. */
export function terminalEventOf(run: Run): EventInput<TerminalEvent> {
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
