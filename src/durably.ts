/**
 * `createDurably`: options, wiring, lifecycle and run management. The instance owns one
 * store, one emitter, one worker and the registry of jobs; `register` returns a view of the
 * same instance carrying the new handles, both under `.jobs` and under their own keys.
 */
import { Kysely } from 'kysely'
import { type Core, isoNow } from './core.js'
import {
  ClosedError,
  ConflictError,
  coerceError,
  InvalidArgumentError,
  NotFoundError,
} from './errors.js'
import {
  createEmitter,
  type DurablyEvent,
  type ErrorHandler,
  type EventInput,
  type EventListener,
  type EventType,
} from './events.js'
import { createIdGenerator } from './id.js'
import {
  type AnyJobDefinition,
  assertJobDefinition,
  type HandlesOf,
  type JobHandle,
} from './job.js'
import { createJobHandle } from './job-handle.js'
import { type DurablyOptions, resolveOptions } from './options.js'
import { withConnectionRecovery } from './store/connection-recovery.js'
import { detectFamily } from './store/detect-family.js'
import type { SqlFamily } from './store/family.js'
import { createKyselyStore } from './store/kysely-store.js'
import { postgresFamily } from './store/postgres-family.js'
import {
  guardPoolConnections,
  listenForWork,
  type WorkListener,
} from './store/postgres-listener.js'
import type { Database } from './store/schema.js'
import { sqliteFamily } from './store/sqlite-family.js'
import type { Store } from './store/store.js'
import { subscribeToRun } from './subscribe.js'
import type { Log, Run, RunFilter, Step } from './types.js'
import { createWorker, type WorkerState } from './worker.js'
import { createYielder } from './yield.js'

/** A plugin extends an instance when `durably.use(plugin)` is called. */
export interface DurablyPlugin {
  name: string
  install(durably: Durably): void
}

export interface PurgeOptions {
  /** Remove terminal runs last updated before this instant. */
  olderThan: Date | string
  /** Which terminal statuses to purge; all three by default. */
  status?: 'completed' | 'failed' | 'cancelled' | ('completed' | 'failed' | 'cancelled')[]
  /** At most this many runs per call (keeps each delete short on a busy database). */
  limit?: number
}

// biome-ignore lint/complexity/noBannedTypes: `{}` is the honest type of "no jobs registered yet"
export type NoJobs = {}

export interface Durably<TJobs extends Record<string, JobHandle<string, never, unknown>> = NoJobs> {
  /** The Kysely instance durably uses (tables `durably_runs`, `durably_steps`, `durably_logs`). */
  readonly db: Kysely<Database>
  /** The storage layer: every read and write durably makes goes through it. */
  readonly storage: Store
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
  getJob(name: string): JobHandle<string, unknown, unknown> | undefined
  getRun(id: string): Promise<Run | null>
  getRuns(filter?: RunFilter): Promise<Run[]>
  getSteps(runId: string): Promise<Step[]>
  getLogs(runId: string): Promise<Log[]>
  /** A failed or cancelled run goes back to pending and resumes at its first unfinished step. */
  retry(runId: string): Promise<void>
  /** A pending run never starts; a running one stops at its next step boundary. */
  cancel(runId: string): Promise<void>
  /** Delete a finished (completed, failed or cancelled) run with its steps and logs. */
  deleteRun(runId: string): Promise<void>
  /** Delete old finished runs; returns how many were removed. */
  purgeRuns(options: PurgeOptions): Promise<number>
  /** The run's events as a stream that closes after its terminal event. */
  subscribe(runId: string): ReadableStream<DurablyEvent>
  /** Listen to one event type; returns the unsubscribe function. */
  on<T extends EventType>(type: T, listener: EventListener<T>): () => void
  /** Errors thrown by event listeners (and plugins) land here instead of in the worker. */
  onError(handler: ErrorHandler): () => void
  emit(event: EventInput): DurablyEvent
  use(plugin: DurablyPlugin): this
  /** Whether a plugin of this name was installed with `use`. */
  hasPlugin(name: string): boolean
  /** Claim and execute one run now, in the caller: deterministic tests and scripts. */
  processOne(): Promise<boolean>
  /** Number of event listeners registered (all, or of one type). */
  listenerCount(type?: EventType): number
  readonly workerState: WorkerState
}

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
  const family: SqlFamily =
    (resolved.family ?? detectFamily(resolved.dialect)) === 'postgres'
      ? postgresFamily
      : sqliteFamily
  if (resolved.listen && family.name !== 'postgres') {
    throw new InvalidArgumentError(
      'createDurably: "listen" needs a PostgreSQL dialect (LISTEN/NOTIFY is PostgreSQL-only)',
    )
  }
  if (resolved.listen) guardPoolConnections(resolved.listen)
  const dialect = family.name === 'sqlite' ? withConnectionRecovery(resolved.dialect) : undefined
  const db = new Kysely<Database>({ dialect: dialect ?? resolved.dialect })
  const store = createKyselyStore(db, family, dialect?.recover)
  const emitter = createEmitter()
  const newId = createIdGenerator()
  const definitions = new Map<string, AnyJobDefinition>()
  const handlesByKey: Record<string, JobHandle<string, never, unknown>> = {}
  const handlesByName = new Map<string, JobHandle<string, never, unknown>>()
  let jobNames: readonly string[] = []
  let migration: Promise<void> | undefined
  let initialising: Promise<void> | undefined
  let destroyed = false
  const plugins = new Set<string>()

  const ready = () => {
    if (destroyed) return Promise.reject(new ClosedError())
    migration ??= store.migrate().catch((error: unknown) => {
      migration = undefined
      throw error
    })
    return migration
  }

  const core: Core = {
    store,
    emitter,
    newId,
    options: resolved,
    now: Date.now,
    ready,
    definitionOf: (name) => definitions.get(name),
    jobNames: () => jobNames,
    wake: () => worker.wake(),
    yieldToHost: createYielder(() => performance.now()),
  }
  const worker = createWorker(core)
  let listener: WorkListener | undefined

  const startWorker = () => {
    worker.start()
    if (resolved.listen && !listener) {
      listener = listenForWork(resolved.listen, {
        onWork: () => worker.wake(),
        onError: (error) =>
          emitter.emit({
            type: 'worker:error',
            error: coerceError(error).message,
            context: 'listen',
          }),
        // Listening again soon matters more than polling rarely: cap the pause at a second.
        retryDelay: Math.min(resolved.pollingInterval, 1000),
      })
    }
  }
  const stopWorker = async () => {
    const closing = listener?.close()
    listener = undefined
    await Promise.all([worker.stop(), closing])
  }

  // Every public database operation waits for the schema (migrating on first use).
  const afterReady = <T>(operation: () => Promise<T>): Promise<T> => ready().then(operation)

  async function requireRun(runId: unknown, action: string): Promise<Run> {
    if (typeof runId !== 'string' || runId.length === 0) {
      throw new InvalidArgumentError(`${action}: a run id (non-empty string) is required`)
    }
    await ready()
    const run = await store.getRun(runId)
    if (!run) throw new NotFoundError(`${action}: run ${runId} not found`)
    return run
  }

  const durably: Durably = {
    db,
    storage: store,
    get jobs() {
      return { ...handlesByKey }
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
        (error: unknown) =>
          emitter.emit({
            type: 'worker:error',
            error: coerceError(error).message,
            context: 'migrate',
          }),
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
      if (!jobs || typeof jobs !== 'object' || Array.isArray(jobs)) {
        throw new InvalidArgumentError(
          'register: expected an object of job definitions, keyed by handle name',
        )
      }
      // Check everything first: a rejected registration registers nothing.
      const accepted: [string, AnyJobDefinition][] = []
      for (const [key, definition] of Object.entries(jobs)) {
        assertJobDefinition(definition, `register("${key}")`)
        if (RESERVED_KEYS.has(key)) {
          throw new InvalidArgumentError(
            `register: the key "${key}" is a durably member; register the job under another key`,
          )
        }
        const known = definitions.get(definition.name)
        if (known && known !== definition) {
          throw new ConflictError(
            `register: a different job named "${definition.name}" is already registered`,
          )
        }
        const existing = handlesByKey[key]
        if (existing && existing.name !== definition.name) {
          throw new ConflictError(`register: the key "${key}" already holds job "${existing.name}"`)
        }
        accepted.push([key, definition])
      }
      for (const [key, definition] of accepted) {
        if (!definitions.has(definition.name)) {
          definitions.set(definition.name, definition)
          handlesByName.set(definition.name, createJobHandle(core, definition))
        }
        handlesByKey[key] = handlesByName.get(definition.name)!
      }
      jobNames = [...definitions.keys()]
      worker.wake()
      const all = { ...handlesByKey }
      const view = Object.create(durably) as object
      Object.defineProperty(view, 'jobs', { value: all, enumerable: true })
      return Object.assign(view, all) as never
    },

    getJob: (name) => handlesByName.get(name) as JobHandle<string, unknown, unknown> | undefined,
    getRun: (id) => afterReady(() => store.getRun(id)),
    getRuns: (filter) => afterReady(() => store.getRuns(validateFilter(filter))),
    getSteps: (runId) => afterReady(() => store.getSteps(runId)),
    getLogs: (runId) => afterReady(() => store.getLogs(runId)),

    async retry(runId) {
      const run = await requireRun(runId, 'retry')
      const retried = await store.retryRun(run.id, isoNow(core))
      if (!retried) {
        throw new ConflictError(
          `retry: run ${run.id} is ${(await store.getRun(run.id))?.status ?? 'gone'}; only failed or cancelled runs can be retried`,
        )
      }
      emitter.emit({ type: 'run:retry', runId: run.id, jobName: run.jobName })
      worker.wake()
    },

    async cancel(runId) {
      const run = await requireRun(runId, 'cancel')
      const cancelled = await store.cancelRun(run.id, isoNow(core))
      if (!cancelled) {
        throw new ConflictError(
          `cancel: run ${run.id} is ${(await store.getRun(run.id))?.status ?? 'gone'}; only pending or running runs can be cancelled`,
        )
      }
      worker.cancelLocal(run.id)
      emitter.emit({ type: 'run:cancel', runId: run.id, jobName: run.jobName })
    },

    async deleteRun(runId) {
      const run = await requireRun(runId, 'deleteRun')
      if (!(await store.deleteRun(run.id))) {
        throw new ConflictError(
          `deleteRun: run ${run.id} is ${(await store.getRun(run.id))?.status ?? 'gone'}; only completed, failed or cancelled runs can be deleted`,
        )
      }
      emitter.emit({ type: 'run:delete', runId: run.id, jobName: run.jobName })
    },

    async purgeRuns(purge) {
      const olderThan =
        purge?.olderThan instanceof Date
          ? purge.olderThan
          : new Date(purge?.olderThan ?? Number.NaN)
      if (Number.isNaN(olderThan.getTime()))
        throw new InvalidArgumentError('purgeRuns: olderThan must be a Date or an ISO-8601 string')
      const statuses =
        purge.status === undefined
          ? undefined
          : Array.isArray(purge.status)
            ? purge.status
            : [purge.status]
      await ready()
      return store.purgeRuns({
        olderThan: olderThan.toISOString(),
        ...(statuses ? { statuses } : {}),
        ...(purge.limit !== undefined ? { limit: purge.limit } : {}),
      })
    },

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
      plugin.install(this)
      return this
    },
    hasPlugin: (name) => plugins.has(name),
    processOne: () => afterReady(() => worker.processOne()),
    listenerCount: (type) => emitter.listenerCount(type),
  }
  return durably
}

const RESERVED_KEYS: ReadonlySet<string> = new Set([
  'db',
  'storage',
  'jobs',
  'workerState',
  'init',
  'migrate',
  'start',
  'stop',
  'destroy',
  'register',
  'getJob',
  'getRun',
  'getRuns',
  'getSteps',
  'getLogs',
  'retry',
  'cancel',
  'deleteRun',
  'purgeRuns',
  'subscribe',
  'on',
  'onError',
  'emit',
  'use',
  'hasPlugin',
  'processOne',
  'listenerCount',
  'constructor',
  '__proto__',
  'then',
  'toString',
  'valueOf',
  'hasOwnProperty',
])

const RUN_STATUSES = new Set(['pending', 'running', 'completed', 'failed', 'cancelled'])

export function validateFilter(filter: RunFilter | undefined): RunFilter {
  if (filter === undefined || filter === null) return {}
  if (typeof filter !== 'object')
    throw new InvalidArgumentError('getRuns: filter must be an object')
  const { status, jobName, limit, offset } = filter
  if (status !== undefined && !RUN_STATUSES.has(status)) {
    throw new InvalidArgumentError(`getRuns: unknown status "${String(status)}"`)
  }
  if (jobName !== undefined && typeof jobName !== 'string')
    throw new InvalidArgumentError('getRuns: jobName must be a string')
  for (const [name, value] of [
    ['limit', limit],
    ['offset', offset],
  ] as const) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
      throw new InvalidArgumentError(`getRuns: ${name} must be a non-negative whole number`)
    }
  }
  return filter
}
