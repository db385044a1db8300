/**
 * Run administration: retry, cancel, delete, purge, and the one validation of run filters.
 * Each status change is one conditional write; when it changes nothing, the run was in the
 * wrong status, and the `ConflictError` names the status it is in.
 */
import { type Core, isoNow } from './engine/core.js'
import { ConflictError, InvalidArgumentError, NotFoundError, rejectUnknownKeys } from './errors.js'
import { purgeInBatches } from './retention.js'
import {
  isRunStatus,
  isTerminal,
  RUN_STATUSES,
  type Run,
  type RunFilter,
  TERMINAL_STATUSES,
  type TerminalStatus,
} from './types.js'

export interface PurgeOptions {
  /** Remove terminal runs last updated before this instant (a Date or an ISO-8601 string). */
  olderThan: Date | string
  /** Which terminal statuses to purge; all three by default. */
  status?: TerminalStatus | TerminalStatus[]
  /** Only runs of this job. */
  jobName?: string
  /** At most this many runs per call (unbounded by default; removed in batches either way). */
  limit?: number
}

export interface RunAdmin {
  retry(runId: string): Promise<void>
  cancel(runId: string): Promise<void>
  deleteRun(runId: string): Promise<void>
  purgeRuns(options: PurgeOptions): Promise<number>
}

export function createRunAdmin(core: Core, local: { cancel(runId: string): void }): RunAdmin {
  async function requireRun(runId: unknown, action: string): Promise<Run> {
    if (typeof runId !== 'string' || runId.length === 0) {
      throw new InvalidArgumentError(`${action}: a run id (non-empty string) is required`)
    }
    await core.ready()
    const run = await core.store.getRun(runId)
    if (!run) throw new NotFoundError(`${action}: run ${runId} not found`)
    return run
  }

  /** Apply one conditional write; if it changed nothing, say which status stood in the way. */
  async function transition(
    runId: unknown,
    action: string,
    rule: string,
    write: (run: Run) => Promise<unknown>,
  ): Promise<Run> {
    const run = await requireRun(runId, action)
    if (await write(run)) return run
    const status = (await core.store.getRun(run.id))?.status ?? 'gone'
    throw new ConflictError(`${action}: run ${run.id} is ${status}; ${rule}`)
  }

  /** Children `step.invoke` created go with their parent, and theirs with them. */
  async function cancelChildren(parentRunId: string): Promise<void> {
    const now = isoNow(core)
    for (const child of await core.store.getRuns({ parentRunId })) {
      if (isTerminal(child.status) || !(await core.store.cancelRun(child.id, now))) continue
      local.cancel(child.id)
      core.emitter.emit({ type: 'run:cancel', runId: child.id, jobName: child.jobName })
      await cancelChildren(child.id)
    }
  }

  return {
    async retry(runId) {
      const run = await transition(
        runId,
        'retry',
        'only failed or cancelled runs can be retried',
        (found) => core.store.retryRun(found.id, isoNow(core)),
      )
      core.emitter.emit({ type: 'run:retry', runId: run.id, jobName: run.jobName })
      core.wake()
    },

    async cancel(runId) {
      const run = await transition(
        runId,
        'cancel',
        'only pending or running runs can be cancelled',
        (found) => core.store.cancelRun(found.id, isoNow(core)),
      )
      local.cancel(run.id)
      core.emitter.emit({ type: 'run:cancel', runId: run.id, jobName: run.jobName })
      await cancelChildren(run.id)
    },

    async deleteRun(runId) {
      const run = await transition(
        runId,
        'deleteRun',
        'only completed, failed or cancelled runs can be deleted',
        (found) => core.store.deleteRun(found.id),
      )
      core.emitter.emit({ type: 'run:delete', runId: run.id, jobName: run.jobName })
    },

    async purgeRuns(purge) {
      if (!purge || typeof purge !== 'object') {
        throw new InvalidArgumentError('purgeRuns: expected an options object with "olderThan"')
      }
      rejectUnknownKeys(purge, PURGE_OPTION_KEYS, 'purgeRuns')
      // A number is refused rather than read as epoch milliseconds: -1 or 7 * 86400000 are
      // more likely meant as "ago" than as 1970.
      const olderThan =
        purge.olderThan instanceof Date
          ? purge.olderThan
          : typeof purge.olderThan === 'string'
            ? new Date(purge.olderThan)
            : undefined
      if (!olderThan || Number.isNaN(olderThan.getTime()))
        throw new InvalidArgumentError(
          `purgeRuns: olderThan must be a Date or an ISO-8601 string, got ${String(purge.olderThan)}`,
        )
      const statuses =
        purge.status === undefined
          ? undefined
          : Array.isArray(purge.status)
            ? purge.status
            : [purge.status]
      for (const status of statuses ?? []) {
        if (!(TERMINAL_STATUSES as readonly string[]).includes(status)) {
          throw new InvalidArgumentError(
            `purgeRuns: status must be one of ${TERMINAL_STATUSES.join(', ')}, got "${String(status)}"`,
          )
        }
      }
      if (purge.jobName !== undefined && (typeof purge.jobName !== 'string' || !purge.jobName))
        throw new InvalidArgumentError('purgeRuns: jobName must be a non-empty string')
      if (purge.limit !== undefined) checkCount(purge.limit, 'limit', 'purgeRuns')
      await core.ready()
      return purgeInBatches(core, {
        olderThan,
        ...(statuses ? { statuses } : {}),
        ...(purge.jobName !== undefined ? { jobName: purge.jobName } : {}),
        ...(purge.limit !== undefined ? { limit: purge.limit } : {}),
        // Events belong to no job or status: only a purge of every finished run takes them.
        events: statuses === undefined && purge.jobName === undefined && purge.limit === undefined,
        pauseMs: 0,
      })
    },
  }
}

const PURGE_OPTION_KEYS = [
  'olderThan',
  'status',
  'jobName',
  'limit',
] as const satisfies readonly (keyof PurgeOptions)[]
const RUN_FILTER_KEYS = [
  'status',
  'jobName',
  'parentRunId',
  'limit',
  'offset',
] as const satisfies readonly (keyof RunFilter)[]

/** The one check of a run filter, for `durably.getRuns` and every job handle's `getRuns`. */
export function validateRunFilter<F extends RunFilter>(
  filter: F | undefined,
  where = 'getRuns',
): F {
  if (filter === undefined || filter === null) return {} as F
  if (typeof filter !== 'object' || Array.isArray(filter))
    throw new InvalidArgumentError(`${where}: filter must be an object`)
  rejectUnknownKeys(filter, RUN_FILTER_KEYS, where)
  const { status, jobName, parentRunId, limit, offset } = filter
  if (status !== undefined && !isRunStatus(status)) {
    throw new InvalidArgumentError(
      `${where}: unknown status "${String(status)}" (one of ${RUN_STATUSES.join(', ')})`,
    )
  }
  if (jobName !== undefined && typeof jobName !== 'string')
    throw new InvalidArgumentError(`${where}: jobName must be a string`)
  if (parentRunId !== undefined && (typeof parentRunId !== 'string' || parentRunId === ''))
    throw new InvalidArgumentError(`${where}: parentRunId must be a non-empty string`)
  if (limit !== undefined) checkCount(limit, 'limit', where)
  if (offset !== undefined) checkCount(offset, 'offset', where)
  return filter
}

function checkCount(value: unknown, name: string, where: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${where}: ${name} must be a non-negative whole number`)
  }
}
