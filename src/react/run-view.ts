/**
 * What a page knows of runs, as external stores for `useSyncExternalStore`: a run's view
 * (its last snapshot brought forward by its events) and a run list kept current by the
 * run-level events. A store follows its source while someone subscribes and stops when the
 * last one leaves (unmount); it starts nothing when created, so rendering on a server fetches
 * nothing.
 */
import { type DurablyEvent, TERMINAL_EVENT_TYPES } from '../events.js'
import type { Run, RunFilter, RunStatus } from '../index.js'
import { isTerminal } from '../types.js'
import { DurablyClientError } from './errors.js'
import type { Transport } from './transport.js'
import type { RunView } from './types.js'

export function isTerminalStatus(status: RunStatus | null): boolean {
  return status !== null && isTerminal(status)
}

export function isTerminalEventType(type: DurablyEvent['type']): boolean {
  return (TERMINAL_EVENT_TYPES as readonly string[]).includes(type)
}

/** A store `useSyncExternalStore` can read. */
export interface Store<S> {
  subscribe(listener: () => void): () => void
  getSnapshot(): S
  /** What the server renders, and the page's first render during hydration. */
  getServerSnapshot(): S
}

export const IDLE_VIEW: RunView<never> = Object.freeze({
  run: null,
  status: null,
  progress: null,
  output: null,
  error: null,
  logs: [],
  isRunning: false,
  isTerminal: false,
  isLoading: false,
  requestError: null,
})

function withStatus(view: RunView, status: RunStatus | null): RunView {
  return {
    ...view,
    status,
    isRunning: status === 'pending' || status === 'running',
    isTerminal: isTerminalStatus(status),
  }
}

export function fromSnapshot(view: RunView, run: Run): RunView {
  return withStatus(
    {
      ...view,
      run,
      progress: run.progress,
      output: run.output,
      error: run.error,
      isLoading: false,
      requestError: null,
    },
    run.status,
  )
}

/** Bring a view forward by one of its run's events. */
export function applyEvent(view: RunView, event: DurablyEvent): RunView {
  const change = (status: RunStatus, patch: Partial<Run> = {}): RunView => {
    const run = view.run ? { ...view.run, ...patch, status, updatedAt: event.timestamp } : null
    return withStatus({ ...view, ...pick(patch), run }, status)
  }
  // An event older than the settled state it arrives after changes nothing (a retry does).
  if (view.isTerminal && event.type !== 'run:retry' && event.type !== 'run:delete') {
    return event.type === 'log:write' ? withLog(view, event) : view
  }
  switch (event.type) {
    case 'run:trigger':
      return change('pending')
    case 'run:start':
      return change('running', { waitingFor: null })
    case 'run:wait':
      return change('pending', { waitingFor: event.waitingFor })
    case 'run:progress': {
      const run = view.run ? { ...view.run, progress: event.progress } : null
      return { ...view, run, progress: event.progress }
    }
    case 'run:complete':
      return change('completed', { output: event.output, error: null })
    case 'run:fail':
      return change('failed', { error: event.error })
    case 'run:cancel':
      return change('cancelled')
    case 'run:retry':
      return change('pending', { output: null, error: null })
    case 'run:delete':
      return {
        ...IDLE_VIEW,
        logs: view.logs,
        requestError: new DurablyClientError(`Run ${event.runId} was deleted`, {
          code: 'NOT_FOUND',
          runId: event.runId,
        }),
      }
    case 'log:write':
      return withLog(view, event)
    default:
      return view
  }
}

function pick(patch: Partial<Run>): Partial<RunView> {
  const out: Partial<RunView> = {}
  if ('output' in patch) out.output = patch.output
  if ('error' in patch) out.error = patch.error ?? null
  return out
}

function withLog(view: RunView, event: Extract<DurablyEvent, { type: 'log:write' }>): RunView {
  const { level, message, data, stepName, timestamp } = event
  return { ...view, logs: [...view.logs, { level, message, data, stepName, timestamp }] }
}

/** A store that calls `start` when its first subscriber comes and what it returned at the last's leaving. */
function refCounted<S>(
  initial: S,
  start: (set: (update: (state: S) => S) => void) => () => void,
): Store<S> & { update(update: (state: S) => S): void } {
  let state = initial
  const listeners = new Set<() => void>()
  let stop: (() => void) | undefined
  const update = (next: (state: S) => S) => {
    state = next(state)
    for (const listener of [...listeners]) listener()
  }
  return {
    getSnapshot: () => state,
    getServerSnapshot: () => initial,
    update,
    subscribe(listener) {
      listeners.add(listener)
      stop ??= start(update)
      return () => {
        listeners.delete(listener)
        if (listeners.size === 0 && stop) {
          const stopping = stop
          stop = undefined
          stopping()
        }
      }
    },
  }
}

/**
 * One run's view, following it while subscribed. `seed` is what the caller already knows
 * (a run just triggered is pending) until the first snapshot arrives.
 */
function runStore(
  transport: Transport,
  runId: string,
  seed: RunStatus | undefined,
  onStop: () => void,
): Store<RunView> {
  const initial = withStatus({ ...IDLE_VIEW, isLoading: true }, seed ?? null)
  return refCounted(initial, (update) => {
    const stop = transport.followRun(runId, {
      snapshot: (run) => update((view) => fromSnapshot(view, run)),
      event: (event) => update((view) => applyEvent(view, event)),
      error: (requestError) => update((view) => ({ ...view, isLoading: false, requestError })),
    })
    return () => {
      stop()
      onStop()
    }
  })
}

/**
 * Stores of runs, one per run while it is followed: components following the same run share
 * one stream (a browser keeps about six HTTP/1.1 connections per origin, and each stream
 * holds one). What a component gets is a handle; the shared store exists only while someone
 * subscribes, so a render that never subscribes (on a server, say) leaves nothing behind.
 */
export function runStores(transport: Transport) {
  const followed = new Map<string, Store<RunView>>()
  return (runId: string, seed?: RunStatus): Store<RunView> => {
    const initial = withStatus({ ...IDLE_VIEW, isLoading: true }, seed ?? null)
    let joined: Store<RunView> | undefined
    return {
      getServerSnapshot: () => initial,
      getSnapshot: () => (joined ?? followed.get(runId))?.getSnapshot() ?? initial,
      subscribe(listener) {
        let store = followed.get(runId)
        if (!store) {
          const created = runStore(transport, runId, seed, () => {
            if (followed.get(runId) === created) followed.delete(runId)
          })
          followed.set(runId, created)
          store = created
        }
        joined = store
        return store.subscribe(listener)
      },
    }
  }
}

export interface RunsView {
  runs: Run[]
  isLoading: boolean
  requestError: DurablyClientError | null
}

/**
 * A run list, read again when a run event may have changed it (and when the stream
 * reconnects, since events may have been missed). Progress is patched in place; reads never
 * overlap: events during a read ask for one more read after it.
 */
export function runsStore(
  transport: Transport,
  filter: RunFilter,
): Store<RunsView> & { refresh(): void } {
  let reading = false
  let again = false
  const refresh = () => {
    if (reading) {
      again = true
      return
    }
    reading = true
    const done = () => {
      reading = false
      if (again) {
        again = false
        refresh()
      }
    }
    transport.getRuns(filter).then(
      (runs) => {
        store.update(() => ({ runs, isLoading: false, requestError: null }))
        done()
      },
      (requestError: DurablyClientError) => {
        store.update((view) => ({ ...view, isLoading: false, requestError }))
        done()
      },
    )
  }
  const store = refCounted<RunsView>(
    { runs: [], isLoading: true, requestError: null },
    (update) => {
      const stop = transport.followRuns(filter.jobName, {
        open: refresh,
        error: (requestError) => update((view) => ({ ...view, requestError })),
        event(event) {
          if (event.type === 'run:progress') {
            const { runId, progress } = event
            update((view) =>
              view.runs.some((run) => run.id === runId)
                ? {
                    ...view,
                    runs: view.runs.map((run) => (run.id === runId ? { ...run, progress } : run)),
                  }
                : view,
            )
            return
          }
          if ('runId' in event) refresh()
        },
      })
      refresh()
      return stop
    },
  )
  return Object.assign(store, { refresh })
}
