/**
 * The Store contract on Kysely. Portable statements live here; what differs between SQLite
 * and PostgreSQL is asked of the family. Database failures are wrapped in `DatabaseError`
 * so callers see one clear type whatever the driver threw.
 */
import type { Kysely, SelectQueryBuilder } from 'kysely'
import { DatabaseError, isDurablyError } from '../errors.js'
import type { Log, Progress, Run, RunFilter, RunStatus, Step } from '../types.js'
import { TERMINAL_STATUSES } from '../types.js'
import type { SqlFamily } from './family.js'
import { migrate } from './migrations.js'
import type { Database, LogRow, RunRow, StepRow } from './schema.js'
import type {
  ClaimedRun,
  ClaimRequest,
  CreatedRun,
  Lease,
  NewLog,
  NewRun,
  NewStep,
  PurgeRequest,
  RunPatch,
  Store,
} from './store.js'

type RunRowWithCount = RunRow & { step_count?: number | string | bigint | null }

export function createKyselyStore(
  db: Kysely<Database>,
  family: SqlFamily,
  recoverConnection: () => Promise<boolean> = async () => false,
): Store {
  const toRun = (row: RunRowWithCount, stepCount?: number): Run => rowToRun(row, family, stepCount)

  function selectRuns() {
    return db
      .selectFrom('durably_runs')
      .selectAll('durably_runs')
      .select((eb) =>
        eb
          .selectFrom('durably_steps')
          .select(eb.fn.countAll().as('count'))
          .whereRef('durably_steps.run_id', '=', 'durably_runs.id')
          .where('durably_steps.status', '=', 'completed')
          .as('step_count'),
      )
  }

  async function getRun(id: string): Promise<Run | null> {
    const row = await selectRuns().where('id', '=', id).executeTakeFirst()
    return row ? toRun(row as RunRowWithCount) : null
  }

  // The fence: the write happens only while the run is still ours under this lease.
  const fencedUpdate = async (lease: Lease, values: Partial<RunRow>) => {
    const result = await db
      .updateTable('durably_runs')
      .set(values)
      .where('id', '=', lease.runId)
      .where('status', '=', 'running')
      .where('lease_generation', '=', lease.generation)
      .executeTakeFirst()
    return Number(result.numUpdatedRows) === 1
  }

  const store: Store = {
    async migrate() {
      await family.prepare(db)
      await migrate(db, family)
    },

    async createRun(run: NewRun): Promise<CreatedRun> {
      const [created] = await store.batchCreateRuns([run])
      return created!
    },

    async batchCreateRuns(runs: readonly NewRun[]): Promise<CreatedRun[]> {
      const inserted = await family.insertRuns(db, runs)
      const byId = new Map(inserted.map((row) => [row.id, toRun(row, 0)]))
      if (byId.size === runs.length)
        return runs.map((run) => ({ run: byId.get(run.id)!, created: true }))
      // Some idempotency keys already existed (or repeat inside the batch): answer with the
      // run that holds each key, which is what a retrying client wants back.
      const results: CreatedRun[] = []
      for (const run of runs) {
        const fresh = byId.get(run.id)
        if (fresh) {
          results.push({ run: fresh, created: true })
          continue
        }
        const existing = run.idempotencyKey
          ? await selectRuns()
              .where('job_name', '=', run.jobName)
              .where('idempotency_key', '=', run.idempotencyKey)
              .executeTakeFirst()
          : undefined
        if (!existing) {
          throw new DatabaseError(
            `Run ${run.id} of job "${run.jobName}" was not stored and no existing run holds its key`,
          )
        }
        results.push({ run: toRun(existing as RunRowWithCount), created: false })
      }
      return results
    },

    getRun,

    async getRuns(filter: RunFilter = {}): Promise<Run[]> {
      let query = selectRuns() as SelectQueryBuilder<Database, 'durably_runs', RunRowWithCount>
      if (filter.status) query = query.where('status', '=', filter.status)
      if (filter.jobName) query = query.where('job_name', '=', filter.jobName)
      query = query.orderBy('created_at', 'desc').orderBy('id', 'desc')
      if (filter.limit !== undefined) query = query.limit(filter.limit)
      if (filter.offset !== undefined) {
        if (filter.limit === undefined)
          query = query.limit(family.name === 'sqlite' ? -1 : 2 ** 53 - 1)
        query = query.offset(filter.offset)
      }
      const rows = await query.execute()
      return rows.map((row) => toRun(row))
    },

    async getNextPendingRun(jobNames, staleBefore) {
      if (jobNames.length === 0) return null
      const row = await selectRuns()
        .where('job_name', 'in', jobNames)
        .where((eb) =>
          eb.or([
            eb('status', '=', 'pending'),
            eb.and([eb('status', '=', 'running'), eb('heartbeat_at', '<', staleBefore)]),
          ]),
        )
        .orderBy('created_at')
        .orderBy('id')
        .executeTakeFirst()
      return row ? toRun(row as RunRowWithCount) : null
    },

    async updateRun(id: string, patch: RunPatch, now: string) {
      const values: Partial<RunRow> = { updated_at: now }
      if (patch.status !== undefined) values.status = patch.status
      if (patch.output !== undefined) values.output = patch.output
      if (patch.error !== undefined) values.error = patch.error
      if (patch.progress !== undefined)
        values.progress = patch.progress === null ? null : JSON.stringify(patch.progress)
      if (patch.heartbeatAt !== undefined) values.heartbeat_at = patch.heartbeatAt
      await db.updateTable('durably_runs').set(values).where('id', '=', id).execute()
    },

    async deleteRun(id: string) {
      // Children go with the row in the same statement: a trigger on SQLite, a cascading
      // foreign key on PostgreSQL. Deleted rows are counted from RETURNING, since some
      // drivers (SQLocal) count the trigger's deletions in the affected rows too.
      const deleted = await db
        .deleteFrom('durably_runs')
        .where('id', '=', id)
        .where('status', 'in', TERMINAL_STATUSES)
        .returning('id')
        .execute()
      return deleted.length === 1
    },

    async purgeRuns(request: PurgeRequest) {
      const statuses = (request.statuses ?? TERMINAL_STATUSES).filter((status) =>
        TERMINAL_STATUSES.includes(status),
      )
      if (statuses.length === 0) return 0
      let candidates = db
        .selectFrom('durably_runs')
        .select('id')
        .where('status', 'in', statuses)
        .where('updated_at', '<', request.olderThan)
      if (request.limit !== undefined) candidates = candidates.limit(request.limit)
      const deleted = await db
        .deleteFrom('durably_runs')
        .where('id', 'in', candidates)
        .returning('id')
        .execute()
      return deleted.length
    },

    async claimNextRun(request: ClaimRequest): Promise<ClaimedRun | null> {
      const row = await family.claimNextRun(db, request)
      if (!row) return null
      const lease: Lease = { runId: row.id, generation: Number(row.lease_generation) }
      let payload: unknown
      let payloadError: string | undefined
      try {
        payload = family.readJson(row.payload)
      } catch (error) {
        payloadError = `Run ${row.id}: the stored payload is not valid JSON (${(error as Error).message})`
      }
      return {
        run: { id: row.id, jobName: row.job_name },
        lease,
        payload,
        ...(payloadError ? { payloadError } : {}),
      }
    },

    heartbeat: (lease, now) => fencedUpdate(lease, { heartbeat_at: now }),

    commitStep: (lease, step) => family.commitStep(db, lease, step),

    saveProgress: (lease, progress: Progress, now) =>
      fencedUpdate(lease, { progress: JSON.stringify(progress), updated_at: now }),

    completeRun: (lease, output, now) =>
      fencedUpdate(lease, {
        status: 'completed',
        output,
        error: null,
        lease_owner: null,
        completed_at: now,
        updated_at: now,
      }),

    failRun: (lease, error, now) =>
      fencedUpdate(lease, {
        status: 'failed',
        error,
        lease_owner: null,
        completed_at: now,
        updated_at: now,
      }),

    releaseRun: (lease, now) =>
      fencedUpdate(lease, {
        status: 'pending',
        lease_owner: null,
        heartbeat_at: null,
        updated_at: now,
      }),

    async cancelRun(id, now) {
      const result = await db
        .updateTable('durably_runs')
        .set({ status: 'cancelled', lease_owner: null, completed_at: now, updated_at: now })
        .where('id', '=', id)
        .where('status', 'in', ['pending', 'running'] satisfies RunStatus[])
        .executeTakeFirst()
      return Number(result.numUpdatedRows) === 1 ? getRun(id) : null
    },

    async retryRun(id, now) {
      const result = await db
        .updateTable('durably_runs')
        .set({
          status: 'pending',
          error: null,
          output: null,
          lease_owner: null,
          heartbeat_at: null,
          completed_at: null,
          updated_at: now,
        })
        .where('id', '=', id)
        .where('status', 'in', ['failed', 'cancelled'] satisfies RunStatus[])
        .executeTakeFirst()
      return Number(result.numUpdatedRows) === 1 ? getRun(id) : null
    },

    async createStep(step: NewStep) {
      await db
        .insertInto('durably_steps')
        .values({
          id: step.id,
          run_id: step.runId,
          name: step.name,
          step_index: step.index,
          status: step.status,
          output: step.output,
          error: step.error,
          started_at: step.startedAt,
          completed_at: step.completedAt,
        })
        .execute()
    },

    async getSteps(runId) {
      const rows = await db
        .selectFrom('durably_steps')
        .selectAll()
        .where('run_id', '=', runId)
        .orderBy('step_index')
        .orderBy('completed_at')
        .orderBy('id')
        .execute()
      return rows.map((row) => rowToStep(row, family))
    },

    async getCompletedSteps(runId) {
      const rows = await db
        .selectFrom('durably_steps')
        .selectAll()
        .where('run_id', '=', runId)
        .where('status', '=', 'completed')
        .orderBy('step_index')
        .execute()
      return rows.map((row) => rowToStep(row, family))
    },

    async getCompletedStep(runId, name, occurrence = 0) {
      const rows = await db
        .selectFrom('durably_steps')
        .selectAll()
        .where('run_id', '=', runId)
        .where('name', '=', name)
        .where('status', '=', 'completed')
        .orderBy('step_index')
        .execute()
      const row = rows[occurrence]
      return row ? rowToStep(row, family) : null
    },

    async createLog(log: NewLog) {
      await db
        .insertInto('durably_logs')
        .values({
          id: log.id,
          run_id: log.runId,
          step_name: log.stepName,
          level: log.level,
          message: log.message,
          data: log.data,
          created_at: log.createdAt,
        })
        .execute()
    },

    async getLogs(runId) {
      const rows = await db
        .selectFrom('durably_logs')
        .selectAll()
        .where('run_id', '=', runId)
        .orderBy('created_at')
        .orderBy('id')
        .execute()
      return rows.map((row) => rowToLog(row, family))
    },
  }

  return wrapDatabaseErrors(store, family, async () => {
    if (await recoverConnection()) await family.prepare(db)
  })
}

/** Operations that give the same result when repeated: reads, and renewing a lease. */
const REPEATABLE = new Set<string>([
  'getRun',
  'getRuns',
  'getNextPendingRun',
  'getSteps',
  'getCompletedSteps',
  'getCompletedStep',
  'getLogs',
  'heartbeat',
  'saveProgress',
  'migrate',
])

/** Several pooled connections can die at once (a server restart): try that many fresh ones. */
const RECONNECT_ATTEMPTS = 5

/** How long the store keeps retrying a statement the database refuses as busy. */
export const BUSY_RETRY_MS = 5000

/**
 * Every store method rejects with a DurablyError: driver errors become `DatabaseError`.
 * Transient contention (another connection holds SQLite's write lock) is retried with
 * backoff, without blocking the event loop, for up to `BUSY_RETRY_MS`. Every method is one
 * statement or idempotent, so a retry after a refusal is safe.
 */
function wrapDatabaseErrors(store: Store, family: SqlFamily, recover: () => Promise<void>): Store {
  const wrapped = {} as Record<string, unknown>
  for (const [name, method] of Object.entries(store) as [
    string,
    (...args: unknown[]) => Promise<unknown>,
  ][]) {
    wrapped[name] = async (...args: unknown[]) => {
      const deadline = Date.now() + BUSY_RETRY_MS
      let delay = 2
      let reconnects = 0
      for (;;) {
        try {
          return await method(...args)
        } catch (error) {
          if (isDurablyError(error)) throw error
          // A pooled connection the server dropped fails only the statement sent on it; the
          // pool replaces it. Only a repeatable operation may simply be sent again: a write
          // whose commit was lost with the connection might already have happened.
          if (
            reconnects < RECONNECT_ATTEMPTS &&
            REPEATABLE.has(name) &&
            family.isConnectionLost(error)
          ) {
            reconnects += 1
            await new Promise((resolve) => setTimeout(resolve, 20 * reconnects))
            continue
          }
          if (family.isBusy(error)) await recover().catch(() => undefined)
          if (family.isBusy(error) && Date.now() + delay < deadline) {
            await new Promise((resolve) => setTimeout(resolve, delay))
            delay = Math.min(delay * 2, 100)
            continue
          }
          const busy = family.isBusy(error) ? ` (still busy after ${BUSY_RETRY_MS} ms)` : ''
          throw new DatabaseError(
            `Database error in ${name}${busy}: ${(error as Error)?.message ?? String(error)}`,
            {
              cause: error,
            },
          )
        }
      }
    }
  }
  return wrapped as unknown as Store
}

function readJsonField(
  family: SqlFamily,
  value: unknown,
  describe: () => string,
): { value?: unknown; error?: string } {
  try {
    return { value: family.readJson(value) }
  } catch (error) {
    return { error: `${describe()} is not valid JSON (${(error as Error).message})` }
  }
}

function rowToRun(row: RunRowWithCount, family: SqlFamily, stepCount?: number): Run {
  // A corrupted JSON value must not make listing impossible: the field reads as undefined
  // and the run's `error` says what is wrong with it.
  const problems: string[] = []
  const field = (value: unknown, name: string) => {
    const result = readJsonField(family, value, () => `Run ${row.id}: stored ${name}`)
    if (result.error) problems.push(result.error)
    return result.value
  }
  const payload = field(row.payload, 'payload')
  const output = field(row.output, 'output')
  const progress = field(row.progress, 'progress') as Progress | undefined
  const count = stepCount ?? Number(row.step_count ?? 0)
  const run: Run = {
    id: row.id,
    jobName: row.job_name,
    status: row.status,
    payload,
    idempotencyKey: row.idempotency_key ?? null,
    concurrencyKey: row.concurrency_key ?? null,
    currentStepIndex: count,
    stepCount: count,
    heartbeatAt: row.heartbeat_at ? family.readTime(row.heartbeat_at) : null,
    startedAt: row.started_at ? family.readTime(row.started_at) : null,
    completedAt: row.completed_at ? family.readTime(row.completed_at) : null,
    createdAt: family.readTime(row.created_at),
    updatedAt: family.readTime(row.updated_at),
  }
  if (output !== undefined) run.output = output
  if (progress !== undefined) run.progress = progress
  const error = [row.error, ...problems].filter(Boolean).join('; ')
  if (error) run.error = error
  return run
}

function rowToStep(row: StepRow, family: SqlFamily): Step {
  const output = readJsonField(
    family,
    row.output,
    () => `Step "${row.name}" of run ${row.run_id}: stored output`,
  )
  const step: Step = {
    id: row.id,
    runId: row.run_id,
    name: row.name,
    index: Number(row.step_index),
    status: row.status,
    startedAt: family.readTime(row.started_at),
    completedAt: family.readTime(row.completed_at),
  }
  if (output.value !== undefined) step.output = output.value
  const error = [row.error, output.error].filter(Boolean).join('; ')
  if (error) step.error = error
  return step
}

function rowToLog(row: LogRow, family: SqlFamily): Log {
  const data = readJsonField(family, row.data, () => `Log ${row.id}: stored data`)
  const log: Log = {
    id: row.id,
    runId: row.run_id,
    stepName: row.step_name ?? null,
    level: row.level,
    message: row.message,
    createdAt: family.readTime(row.created_at),
  }
  if (data.value !== undefined) log.data = data.value
  return log
}
