/**
 * What the parts of one durably instance share. Internal: built by `createDurably`, handed
 * to the job handles, the worker and the executions. Nothing here is module-level, so two
 * instances in one process never interfere.
 */
import { errorMessage } from '../errors.js'
import type { Emitter, WorkerErrorContext } from '../events.js'
import type { IdGenerator } from '../id.js'
import type { AnyJobDefinition } from '../job.js'
import type { ResolvedOptions } from '../options.js'
import type { Store } from '../store/store.js'

export interface Core {
  readonly store: Store
  readonly emitter: Emitter
  readonly newId: IdGenerator
  readonly options: ResolvedOptions
  readonly now: () => number
  /** False while abandoned runs must not be judged by this machine's clock (it just jumped). */
  readonly clockSteady: () => boolean
  /** Resolves once the schema is migrated (migrating on first use if nobody did). */
  ready(): Promise<void>
  /** The registered definition for a job name, if this instance knows it. */
  definitionOf(jobName: string): AnyJobDefinition | undefined
  jobNames(): readonly string[]
  /** A run was claimed: if it is a schedule's tick, create the following tick's run. */
  followSchedule(jobName: string, idempotencyKey: string | null): void
  /** Upkeep between polls (schedules' next ticks); failures are reported, never thrown. */
  maintain(): Promise<void>
  /** Whether this instance's worker is started (runs may still be executed elsewhere). */
  workerStarted(): boolean
  /** Ask the worker to look for work now (a run was just triggered or retried). */
  wake(): void
  /** A promise to await when this instance has held the event loop long enough, else nothing. */
  yieldToHost(): Promise<void> | undefined
  /**
   * Set by a tracing plugin (`PluginHooks`): the trace context to store with a run being
   * created, as JSON text. A child run names its parent, whose execution it continues.
   */
  captureTraceContext?: (jobName: string, parentRunId?: string) => string | null
}

export function isoNow(core: Pick<Core, 'now'>): string {
  return new Date(core.now()).toISOString()
}

/** The one way the engine reports trouble it survives: a `worker:error` event. */
export function reportError(
  core: Pick<Core, 'emitter'>,
  context: WorkerErrorContext,
  error: unknown,
  runId?: string,
): void {
  core.emitter.emit({
    type: 'worker:error',
    error: errorMessage(error),
    context,
    ...(runId !== undefined ? { runId } : {}),
  })
}
