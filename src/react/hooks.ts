/**
 * `createDurablyHooks`: a plain object of hooks (no Proxy, so server rendering and bundlers
 * see ordinary functions) over one transport: the HTTP handler or an instance in the page.
 * Hooks read their state through `useSyncExternalStore` (React 18 and 19); they fetch and
 * subscribe only in the browser, after mounting, and stop when unmounted. No hook throws
 * during render: a refusal or a failing server becomes `requestError`.
 */
import { useCallback, useMemo, useRef, useState, useSyncExternalStore } from 'react'
import { InvalidArgumentError, rejectUnknownKeys } from '../errors.js'
import { DurablyClientError } from './errors.js'
import { type HttpHooksOptions, httpTransport } from './http.js'
import { type LocalDurably, localTransport } from './local.js'
import { IDLE_VIEW, type RunsView, runStores, runsStore, type Store } from './run-view.js'
import type { Transport } from './transport.js'
import type {
  AnyJobs,
  HookTriggerOptions,
  JobInput,
  JobName,
  JobOutput,
  JobState,
  RunActions,
  RunsFilter,
  RunsState,
  RunView,
  SendSignal,
} from './types.js'

export interface LocalHooksOptions<TDurably extends LocalDurably = LocalDurably> {
  /** An instance in this page (SQLocal, say); the hooks call it directly. */
  durably: TDurably
}

/** The hooks, typed by the jobs `T` (see `createDurablyHooks`). */
export interface DurablyHooks<T = AnyJobs> {
  /** Trigger runs of one job (by job name) and follow the last one triggered. */
  useJob<N extends JobName<T>>(jobName: N): JobState<JobInput<T, N>, JobOutput<T, N>>
  /** Follow one run (none while `runId` is null or undefined). Name its job to type `output`. */
  useRun<N extends JobName<T> = JobName<T>>(
    runId: string | null | undefined,
  ): RunView<JobOutput<T, N>>
  /** A run list, newest first, kept current through the run events. */
  useRuns<N extends JobName<T> = JobName<T>>(filter?: RunsFilter<N>): RunsState<JobOutput<T, N>>
  /** Retry, cancel and delete runs; each rejects with a `DurablyClientError` if refused. */
  useRunActions(): RunActions
  /**
   * A function that sends the signal `name` to a run, completing its durable wait for it
   * (a human approval). Over HTTP: `POST <api>/signal?runId=` with `{ name, data, id? }`.
   */
  useSignal(runId: string | null | undefined, name: string): SendSignal
}

type JobsOfInstance<D> = D extends { jobs: infer J } ? J : AnyJobs

/**
 * Create the hooks: over the HTTP handler (`{ api }`), typed by the server's jobs, or over an
 * instance in the page (`{ durably }`), typed by it. Call it once, at module level.
 *
 * `typeof jobs` is a type only (`import type`), so no server code reaches the page: the
 * object given to `register`, the handles it returned, or the instance all work.
 *
 * @example
 * // server: export const jobs = { importCsv }; durably.register(jobs)
 * import type { jobs } from '../server/jobs'
 * export const { useJob, useRun, useRuns } = createDurablyHooks<typeof jobs>({ api: '/api/durably' })
 * // in a component
 * const { trigger, status, progress, output } = useJob('import-csv')
 */
export function createDurablyHooks<T = AnyJobs>(options: HttpHooksOptions): DurablyHooks<T>
export function createDurablyHooks<TDurably extends LocalDurably>(
  options: LocalHooksOptions<TDurably>,
): DurablyHooks<JobsOfInstance<TDurably>>
export function createDurablyHooks(options: HttpHooksOptions | LocalHooksOptions): unknown {
  return hooksOver(transportOf(options))
}

const HTTP_OPTION_KEYS = [
  'api',
  'headers',
  'fetch',
  'reconnect',
] as const satisfies readonly (keyof HttpHooksOptions)[]

/** Options are checked here, once: a mistake throws where the hooks are created, not in a render. */
function transportOf(options: HttpHooksOptions | LocalHooksOptions): Transport {
  const where = 'createDurablyHooks'
  if (!options || typeof options !== 'object') {
    throw new InvalidArgumentError(`${where}: expected { api } or { durably }`)
  }
  if ('durably' in options) {
    rejectUnknownKeys(options, ['durably'], where)
    const { durably } = options
    if (!durably || typeof durably.getJob !== 'function') {
      throw new InvalidArgumentError(`${where}: durably must be a durably instance`)
    }
    return localTransport(durably)
  }
  rejectUnknownKeys(options, HTTP_OPTION_KEYS, where)
  if (typeof options.api !== 'string' || options.api === '') {
    throw new InvalidArgumentError(
      `${where}: api must be the path the handler is mounted at ('/api/durably'), or pass { durably }`,
    )
  }
  if (options.fetch !== undefined && typeof options.fetch !== 'function') {
    throw new InvalidArgumentError(`${where}: fetch must be a function when given`)
  }
  return httpTransport(options)
}

const noStore: Store<RunView<never>> = {
  subscribe: () => () => {},
  getSnapshot: () => IDLE_VIEW,
  getServerSnapshot: () => IDLE_VIEW,
}

function useStore<S>(store: Store<S>): S {
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getServerSnapshot)
}

/** Why a followed run will not give an output: it failed, was cancelled, or cannot be read. */
function failureOf(view: RunView, runId: string): DurablyClientError | null {
  if (view.status === 'failed') {
    return new DurablyClientError(view.error ?? `Run ${runId} failed`, {
      code: 'RUN_FAILED',
      runId,
    })
  }
  if (view.status === 'cancelled') {
    return new DurablyClientError(`Run ${runId} was cancelled`, { code: 'CANCELLED', runId })
  }
  return view.requestError
}

/** Resolve with the output once the store's run completes; reject if it will not. */
function settled(store: Store<RunView>, runId: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const view = store.getSnapshot()
      const failure = failureOf(view, runId)
      if (view.status !== 'completed' && !failure) return
      unsubscribe()
      if (failure) reject(failure)
      else resolve(view.output)
    }
    // Subscribing follows the run even if the component that triggered it unmounts.
    const unsubscribe = store.subscribe(check)
    check()
  })
}

function hooksOver(transport: Transport): DurablyHooks<AnyJobs> {
  const runStoreOf = runStores(transport)

  function useJob(jobName: string): JobState<unknown, unknown> {
    const [followed, setFollowed] = useState<{ runId: string; store: Store<RunView> } | null>(null)
    const [triggering, setTriggering] = useState(false)
    const [triggerError, setTriggerError] = useState<DurablyClientError | null>(null)
    // Each trigger and reset starts a generation; an answer for an older one is ignored.
    const generation = useRef(0)
    const view = useStore(followed?.store ?? noStore)

    const start = useCallback(
      async (input: unknown, options: HookTriggerOptions = {}) => {
        const mine = ++generation.current
        setTriggering(true)
        setTriggerError(null)
        try {
          const runId = await transport.trigger(jobName, input, options)
          const store = runStoreOf(runId, 'pending')
          if (mine === generation.current) {
            setFollowed({ runId, store })
            setTriggering(false)
          }
          return { runId, store }
        } catch (error) {
          const refused =
            error instanceof DurablyClientError
              ? error
              : new DurablyClientError(String(error), { cause: error })
          if (mine === generation.current) {
            setTriggerError(refused)
            setTriggering(false)
          }
          throw refused
        }
      },
      [jobName],
    )

    const trigger = useCallback(
      async (input: unknown, options?: HookTriggerOptions) => ({
        runId: (await start(input, options)).runId,
      }),
      [start],
    )

    const triggerAndWait = useCallback(
      async (input: unknown, options?: HookTriggerOptions) => {
        const { runId, store } = await start(input, options)
        return { runId, output: await settled(store, runId) }
      },
      [start],
    )

    const reset = useCallback(() => {
      generation.current += 1
      setFollowed(null)
      setTriggering(false)
      setTriggerError(null)
    }, [])

    return {
      ...view,
      runId: followed?.runId ?? null,
      isRunning: triggering || view.isRunning,
      requestError: triggerError ?? view.requestError,
      trigger,
      triggerAndWait,
      reset,
    }
  }

  function useRun(runId: string | null | undefined): RunView {
    const store = useMemo(() => (runId ? runStoreOf(runId) : noStore), [runId])
    return useStore(store)
  }

  function useRuns(filter: RunsFilter = {}): RunsState {
    const { status, jobName, limit, offset } = filter
    const store = useMemo(
      () =>
        runsStore(transport, {
          ...(status !== undefined ? { status } : {}),
          ...(jobName !== undefined ? { jobName } : {}),
          ...(limit !== undefined ? { limit } : {}),
          ...(offset !== undefined ? { offset } : {}),
        }),
      [status, jobName, limit, offset],
    )
    const view: RunsView = useStore(store)
    return { ...view, refresh: store.refresh }
  }

  function useRunActions(): RunActions {
    return useMemo(
      () => ({
        retry: (runId) => transport.retry(runId),
        cancel: (runId) => transport.cancel(runId),
        deleteRun: (runId) => transport.deleteRun(runId),
      }),
      [],
    )
  }

  function useSignal(runId: string | null | undefined, name: string): SendSignal {
    return useCallback(
      async (data: unknown, options: { id?: string } = {}) => {
        if (!runId) {
          throw new DurablyClientError(`No run to send "${name}" to`, {
            code: 'INVALID_ARGUMENT',
          })
        }
        await transport.signal(runId, name, data, options)
      },
      [runId, name],
    )
  }

  // The generic signatures of DurablyHooks are views of these untyped ones.
  return { useJob, useRun, useRuns, useRunActions, useSignal } as unknown as DurablyHooks<AnyJobs>
}
