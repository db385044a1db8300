/**
 * `createDurably`: the composition root. It opens the store, builds the parts an instance
 * shares (engine/core.ts), the registry and the run administration, and owns the lifecycle
 * (init, start, stop, destroy). `register` returns a view of the same instance carrying the
 * new handles, both under `.jobs` and under their own keys.
 */
import type { Kysely } from 'kysely'
import { createClock } from './clock.js'
import type { Core } from './engine/core.js'
import { reportError } from './engine/core.js'
import { createWorker, type WorkerState } from './engine/worker.js'
import { createYielder } from './engine/yield.js'
import { ClosedError, InvalidArgumentError } from './errors.js'
import {
  createEmitter,
  type DurablyEvent,
  type ErrorHandler,
  type EventInput,
  type EventListener,
  type EventType,
} from './events.js'
import { createIdGenerator } from './id.js'
import type { AnyJobDefinition, HandlesOf, JobHandle } from './job.js'
import { createJobHandle } from './job-handle.js'
import { type DurablyOptions, resolveOptions } from './options.js'
import { createRegistry } from './registry.js'
import { createRetention } from './retention.js'
import { createRunAdmin, type PurgeOptions, validateRunFilter } from './runs.js'
import { createScheduler, type ScheduleInfo } from './schedules.js'
import { createSender, type SendOptions, type SentEvent } from './send.js'
import { createSightings, readRunWithBlocker } from './sightings.js'
import { createLegacyStorage, type Storage } from './store/legacy-storage.js'
import { openStore } from './store/open.js'
import type { WorkListener } from './store/postgres-listener.js'
import type { Database } from './store/schema.js'
import type { Store } from './store/store.js'
import type { Log, Run, RunFilter, Step } from './types.js'
import { subscribeToRun } from './watch.js'

/** A plugin extends an instance when `durably.use(plugin)` is called. */
export interface DurablyPlugin {
  name: string
  install(durably: Durably, hooks: PluginHooks): void
}

/** What a plugin may reach beyond the public API: `install`'s second argument. */
export interface PluginHooks {
  /**
   * Called as each run is created (`trigger`, `batchTrigger`, a `step.invoke` child, with
   * the parent's run id), before it is stored: the JSON text returned is kept with the run
   * as its trace context. One per instance (the last set wins); it must not throw.
   */
  captureTraceContext(capture: (jobName: string, parentRunId?: string) => string | null): void
  /** The trace context stored with a run, or null. */
  readTraceContext(runId: string): Promise<string | null>
}

// biome-ignore lint/complexity/noBannedTypes: `{}` is the honest type of "no jobs registered yet"
export type NoJobs = {}

export interface Durably<TJobs extends Record<string, JobHandle<string, never, unknown>> = NoJobs> {
  /** The Kysely instance durably uses (tables `durably_runs`, `durably_steps`, `durably_logs`). */
  readonly db: Kysely<Database>
  /**
   * The storage layer. Its methods named as in 0.6.0 (`createRun`, `updateRun`, `createStep`,
   * …) take and return 0.6.0's shapes; the rest are the fenced protocol the worker uses.
   */
  readonly storage: DurablyStorage
  /** Every handle registered so far, by the key it was registered under. */
  readonly jobs: TJobs
  /** Migrate the schema, then start the worker. Memoised; retried if it failed. */
  init(): Promise<void>
  /** Apply pending migrations (idempotent; safe when several processes do it at once). */
  migrate(): Promise<void>
  /** Start the worker (no-op if it runs). */
  start(): void
  /** Stop the worker: in-flight steps finish, their runs go back to the queue. */
  stop(): Promise<void>
  /** Stop the worker and close the database connection; the instance is unusable after. */
  destroy(): Promise<void>
  /**
   * Register jobs. Returns this instance with the handles under `.jobs` and under their keys.
   * @example const { syncUsers } = durably.register({ syncUsers: syncUsersJob })
   */
  register<T extends Record<string, AnyJobDefinition>>(jobs: T): DurablyWith<TJobs & HandlesOf<T>>
  /** The handle of a registered job, by job name (not register key). */
  getJob(name: string): JobHandle<string, unknown, unknown> | undefined
  /** One run, or null if there is none with this id. */
  getRun(id: string): Promise<Run | null>
  /** Runs newest first, filtered by status and job, paged with limit and offset. */
  getRuns(filter?: RunFilter): Promise<Run[]>
  /** A run's recorded steps in execution order. */
  getSteps(runId: string): Promise<Step[]>
  /** A run's persisted logs (stored only with `withLogPersistence()`). */
  getLogs(runId: string): Promise<Log[]>
  /** A failed or cancelled run goes back to pending and resumes at its first unfinished step. */
  retry(runId: string): Promise<void>
  /** A pending run never starts; a running one stops at its next step boundary. */
  cancel(runId: string): Promise<void>
  /** Delete a finished (completed, failed or cancelled) run with its steps and logs. */
  deleteRun(runId: string): Promise<void>
  /** Each scheduled job's cron, time zone and next ticks. */
  getSchedules(): ScheduleInfo[]
  /**
   * Send an event: every run waiting in `step.waitForEvent` for this name, whose `match`
   * the data holds, resumes; a run that reaches such a wait later takes it then.
   * @example await durably.sendEvent('order/approved', { orderId: 'o_1' }, { id: webhookId })
   */
  sendEvent(event: string, data: unknown, options?: SendOptions): Promise<SentEvent>
  /**
   * Send one run an event named `name` (a signal): its `step.waitForEvent` for that name
   * takes it, now or when it gets there. NotFoundError for a missing run, ConflictError
   * for a finished one.
   */
  signal(runId: string, name: string, data: unknown, options?: SendOptions): Promise<SentEvent>
  /**
   * Delete finished runs last updated before `olderThan`, with their steps, logs, attempts
   * and signals, 100 runs per statement; returns how many runs were removed. Without
   * `status`, `jobName` or `limit` it also removes broadcast events sent before `olderThan`
   * and before every unfinished run (none could take them any more).
   * @example await durably.purgeRuns({ olderThan: new Date(Date.now() - 30 * 86_400_000) })
   */
  purgeRuns(options: PurgeOptions): Promise<number>
  /** The run's events as a stream that closes after its terminal event. */
  subscribe(runId: string): ReadableStream<DurablyEvent>
  /** Listen to one event type; returns the unsubscribe function. */
  on<T extends EventType>(type: T, listener: EventListener<T>): () => void
  /** Errors thrown by event listeners (and plugins) land here instead of in the worker. */
  onError(handler: ErrorHandler): () => void
  /** Deliver an event to this instance's listeners, stamped with timestamp and sequence. */
  emit(event: EventInput): DurablyEvent
  /** Install a plugin once (a second `use` of the same name is a no-op). */
  use(plugin: DurablyPlugin): this
  /** Whether a plugin of this name was installed with `use`. */
  hasPlugin(name: string): boolean
  /** Claim and execute one run now, in the caller: deterministic tests and scripts. */
  processOne(): Promise<boolean>
  /** Number of event listeners registered (all, or of one type). */
  listenerCount(type?: EventType): number
  /** What the worker is doing: stopped, idle, polling or stopping. */
  readonly workerState: WorkerState
}

/** 0.6.0's storage methods beside our own store's (which the worker and benchmarks use). */
export type DurablyStorage = Storage & Omit<Store, keyof Storage>

export type DurablyWith<TJobs extends Record<string, JobHandle<string, never, unknown>>> =
  Durably<TJobs> & TJobs

/**
 * Create a durably instance on a Kysely dialect.
 *
 * @example
 * const durably = createDurably({ dialect: new LibsqlDialect({ url: 'file:app.db' }) })
 * const { sync } = durably.register({ sync: syncJob })
 * await durably.init()
 * await sync.trigger({ orgId: 'org_1' })
 */
export function createDurably(options: DurablyOptions): Durably {
  const resolved = resolveOptions(options)
  const clock = createClock({ holdOff: resolved.staleThreshold })
  const now = clock.now
  const { db, store, listen, describeStorage } = openStore(resolved.dialect, {
    ...(resolved.family ? { family: resolved.family } : {}),
    ...(resolved.listen !== undefined ? { listen: resolved.listen } : {}),
    now,
  })
  const emitter = createEmitter(now)
  const registry = createRegistry(RESERVED_KEYS, (definition) => createJobHandle(core, definition))
  let migration: Promise<void> | undefined
  let initialising: Promise<void> | undefined
  let destroyed = false
  const plugins = new Set<string>()

  let storageChecked: Promise<void> | undefined
  const ready = () => {
    if (destroyed) return Promise.reject(new ClosedError())
    migration ??= store
      .migrate()
      .then(() => followDatabaseClock())
      .then(() => (storageChecked ??= warnIfVolatile()))
      .catch((error: unknown) => {
        migration = undefined
        throw error
      })
    return migration
  }

  // Where the database keeps the time (PostgreSQL), every instant this instance writes is
  // the database's: machines whose clocks disagree still agree on when a run is due.
  const followDatabaseClock = async () => {
    if ((await store.databaseTime()) === null) return
    await clock.follow(async () => (await store.databaseTime()) ?? Number.NaN)
  }

  // Once, after the first migration (the driver exists only then): a browser database that
  // will not outlive the page is said as an event and on the console, since SQLocal's fallback
  // to memory otherwise passes silently and every run is lost on reload. Never fails `ready`.
  const warnIfVolatile = async () => {
    const storage = await describeStorage().catch(() => undefined)
    if (!storage || storage.persistent) return
    emitter.emit({
      type: 'storage:volatile',
      storageType: storage.storageType,
      databasePath: storage.databasePath,
    })
    const lost =
      storage.storageType === 'session'
        ? 'in sessionStorage, so every run is lost when the tab closes'
        : `in ${storage.storageType}, so every run is lost when the page reloads or closes`
    console.warn(
      `[durably] the database is ${lost}. SQLite in OPFS needs a cross-origin isolated page:` +
        ' serve it with Cross-Origin-Opener-Policy: same-origin and' +
        ' Cross-Origin-Embedder-Policy: require-corp (durably README, "In the browser").',
    )
  }

  const core: Core = {
    store,
    emitter,
    newId: createIdGenerator(now),
    options: resolved,
    now,
    clockSteady: clock.steady,
    ready,
    definitionOf: registry.definitionOf,
    jobNames: registry.jobNames,
    followSchedule: (jobName, key) => scheduler.followClaim(jobName, key),
    maintain: () => scheduler.maintain(registry.definitions()),
    wake: () => worker.wake(),
    workerStarted: () => worker.state !== 'stopped',
    yieldToHost: createYielder(() => performance.now()),
  }
  const worker = createWorker(core)
  const scheduler = createScheduler(core, registry.handleOf)
  const admin = createRunAdmin(core, { cancel: (runId) => worker.cancelLocal(runId) })
  const sender = createSender(core)
  const retention = resolved.retention ? createRetention(core, resolved.retention) : undefined
  const sightings = createSightings(core)
  let listener: WorkListener | undefined
  const pluginHooks: PluginHooks = {
    captureTraceContext: (capture) => {
      core.captureTraceContext = capture
    },
    readTraceContext: (runId) => afterReady(() => store.getTraceContext(runId)),
  }

  const startWorker = () => {
    if (worker.state === 'stopped') void scheduler.ensure(registry.definitions())
    worker.start()
    retention?.start()
    sightings.start()
    listener ??= listen?.({
      onWork: () => worker.wake(),
      onError: (error) => reportError(core, 'listen', error),
      // Listening again soon matters more than polling rarely: cap the pause at a second.
      retry: {
        initial: Math.min(resolved.pollingInterval, 1000),
        factor: 1,
        max: 1000,
        jitter: 0.1,
      },
      probe: { every: resolved.heartbeatInterval, within: resolved.heartbeatInterval },
    })
  }
  const stopWorker = async () => {
    const closing = listener?.close()
    listener = undefined
    sightings.stop()
    await Promise.all([worker.stop(), closing, retention?.stop()])
  }

  // Every public database operation waits for the schema (migrating on first use).
  const afterReady = <T>(operation: () => Promise<T>): Promise<T> => ready().then(operation)

  const storage: DurablyStorage = {
    ...store,
    ...createLegacyStorage({
      db,
      newId: core.newId,
      now,
      ready,
      readRun: (id) => afterReady(() => store.getRun(id)),
      readRuns: async (filter) => {
        const checked = validateRunFilter(filter, 'storage.getRuns')
        return afterReady(() => store.getRuns(checked))
      },
      readSteps: (runId) => afterReady(() => store.getSteps(runId)),
      readLogs: (runId) => afterReady(() => store.getLogs(runId)),
      insertRuns: (runs) => store.insertRuns(runs),
      insertLog: (log) => store.insertLog(log),
    }),
  }

  const durably: Durably = {
    db,
    storage,
    get jobs() {
      return registry.handlesByKey()
    },
    get workerState() {
      return worker.state
    },

    init() {
      initialising ??= ready()
        .then(startWorker)
        .catch((error: unknown) => {
          initialising = undefined
          throw error
        })
      return initialising
    },
    migrate: ready,
    start() {
      if (destroyed) throw new ClosedError()
      void ready().then(
        () => {
          if (!destroyed) startWorker()
        },
        (error: unknown) => reportError(core, 'migrate', error),
      )
    },
    async stop() {
      await stopWorker()
      initialising = undefined
    },
    async destroy() {
      if (destroyed) return
      await stopWorker()
      destroyed = true
      await db.destroy()
    },

    register(jobs) {
      const before = new Set(registry.jobNames())
      const all = registry.register(jobs)
      if (worker.state !== 'stopped') {
        const added = registry.definitions().filter((definition) => !before.has(definition.name))
        void scheduler.ensure(added)
      }
      worker.wake()
      // The view inherits every member; `.jobs` stays live like the instance's own, so code
      // holding a view (the HTTP handler, say) sees jobs registered later through another.
      return Object.assign(Object.create(durably) as object, all) as never
    },

    getJob: (name) => registry.handleOf(name) as JobHandle<string, unknown, unknown> | undefined,
    getRun: (id) => afterReady(() => readRunWithBlocker(core, id)),
    getRuns: async (filter) => {
      const checked = validateRunFilter(filter)
      return afterReady(() => store.getRuns(checked))
    },
    getSteps: (runId) => afterReady(() => store.getSteps(runId)),
    getLogs: (runId) => afterReady(() => store.getLogs(runId)),
    retry: admin.retry,
    cancel: admin.cancel,
    deleteRun: admin.deleteRun,
    purgeRuns: admin.purgeRuns,
    getSchedules: () => scheduler.list(registry.definitions()),
    sendEvent: sender.sendEvent,
    signal: sender.signal,

    subscribe(runId) {
      if (typeof runId !== 'string' || runId.length === 0) {
        throw new InvalidArgumentError('subscribe: a run id (non-empty string) is required')
      }
      return subscribeToRun(core, runId)
    },

    on: (type, listener) => emitter.on(type, listener),
    onError: (handler) => emitter.onError(handler),
    emit: (event) => emitter.emit(event),
    use(plugin) {
      if (!plugin || typeof plugin.install !== 'function') {
        throw new InvalidArgumentError('use: a plugin is an object { name, install(durably) }')
      }
      if (plugins.has(plugin.name)) return this
      plugins.add(plugin.name)
      plugin.install(this, pluginHooks)
      return this
    },
    hasPlugin: (name) => plugins.has(name),
    processOne: () => afterReady(() => worker.processOne()),
    listenerCount: (type) => emitter.listenerCount(type),
  }
  return durably
}

/**
 * Every member of `Durably`, so none can be shadowed by a job registered under its name.
 * The compiler refuses a new member until it is listed here.
 */
const DURABLY_MEMBERS = {
  db: true,
  storage: true,
  jobs: true,
  workerState: true,
  init: true,
  migrate: true,
  start: true,
  stop: true,
  destroy: true,
  register: true,
  getJob: true,
  getRun: true,
  getRuns: true,
  getSteps: true,
  getLogs: true,
  retry: true,
  cancel: true,
  deleteRun: true,
  purgeRuns: true,
  getSchedules: true,
  sendEvent: true,
  signal: true,
  subscribe: true,
  on: true,
  onError: true,
  emit: true,
  use: true,
  hasPlugin: true,
  processOne: true,
  listenerCount: true,
} as const satisfies Record<keyof Durably, true>

// Names every object answers to, and `then`, which would make the view a thenable.
const RESERVED_KEYS: ReadonlySet<string> = new Set([
  ...Object.keys(DURABLY_MEMBERS),
  ...Object.getOwnPropertyNames(Object.prototype),
  'then',
])
