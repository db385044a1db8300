/**
 * SQLite (libSQL, better-sqlite3, SQLocal). SQLite serialises writers, so a single
 * `UPDATE … WHERE id = (SELECT … LIMIT 1) RETURNING *` is an atomic claim: the choice and
 * the update happen under one write lock. Writes are single statements wherever possible,
 * because libSQL's client opens a fresh connection (without our pragmas) for every
 * transaction it is asked for.
 */
import { type Kysely, sql } from 'kysely'
import { parseJsonText } from '../serialize.js'
import type { SqlFamily } from './family.js'
import type { ClaimedRow, Database, RunRow } from './schema.js'
import type { ClaimRequest, Lease, NewRun, NewStep, Suspension } from './store.js'

/**
 * SQLite drivers in Node are synchronous: a busy wait inside SQLite blocks the event loop.
 * So SQLite itself waits at most a second, and the store retries asynchronously (see
 * `BUSY_BUDGET_MS` in retry.ts), letting the rest of the process run in between.
 */
export const SQLITE_BUSY_TIMEOUT_MS = 1000

export const sqliteFamily: SqlFamily = {
  name: 'sqlite',
  types: { json: 'text', timestamp: 'text' },
  unboundedLimit: -1,
  // Foreign keys are off by default per SQLite connection: a trigger (see extraSchema)
  // removes children instead.
  runReference: (column) => column.notNull(),

  async prepare(db) {
    // WAL lets readers proceed beside the writer and makes a commit one append. In WAL mode
    // synchronous=NORMAL keeps every committed transaction across a process crash; only an
    // OS crash or power loss can drop the last commits. Remote libSQL and OPFS may refuse
    // some pragmas: we probe and carry on.
    // Only ask for WAL when it is not on already: switching takes an exclusive lock, and a
    // refused pragma can leave its statement open on the connection, blocking COMMITs.
    let journal = await tryPragma(db, sql`PRAGMA journal_mode`)
    if (journal !== 'wal') journal = await tryPragma(db, sql`PRAGMA journal_mode = WAL`)
    await tryPragma(db, sql.raw(`PRAGMA busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`))
    if (journal === 'wal') await tryPragma(db, sql`PRAGMA synchronous = NORMAL`)
  },

  withMigrationLock: (db, migrate) => migrate(db),

  async addRunColumn(db, name, type) {
    // No ADD COLUMN IF NOT EXISTS here, and no migration lock: a second process adding the
    // same column meets "duplicate column", which means it is there.
    try {
      await db.schema.alterTable('durably_runs').addColumn(name, type).execute()
    } catch (error) {
      if (!/duplicate column/i.test((error as Error)?.message ?? '')) throw error
    }
  },

  async extraSchema(db, version) {
    if (version !== 1) return
    // Foreign keys are off by default per SQLite connection, so a trigger (part of the
    // DELETE statement itself) removes a run's steps and logs atomically instead.
    await sql`CREATE TRIGGER IF NOT EXISTS durably_runs_delete_children
      AFTER DELETE ON durably_runs
      BEGIN
        DELETE FROM durably_steps WHERE run_id = OLD.id;
        DELETE FROM durably_logs WHERE run_id = OLD.id;
      END`.execute(db)
  },

  async claimNextRun(db, request: ClaimRequest) {
    if (request.jobNames.length === 0) return null
    const jobNames = sql.join(request.jobNames.map((name) => sql`${name}`))
    // COALESCE evaluates lazily: abandoned runs (an index range on status, heartbeat_at)
    // come first, then the pending run due first whose concurrency key is free, through the
    // partial index of pending runs by available_at: runs sleeping into the future are
    // beyond the range and cost nothing. Without statistics SQLite's planner prefers the
    // status index and sorts every pending row (593x slower beside 1M sleeping runs), so
    // the index is named: INDEXED BY. Neither subquery touches terminal rows: the unary
    // `+` keeps SQLite from choosing the job_name index, which would walk every finished run.
    const result = await sql<ClaimedRow>`
      UPDATE durably_runs
      SET status = 'running',
          lease_owner = ${request.owner},
          lease_generation = lease_generation + 1,
          heartbeat_at = ${request.now},
          wait_for = NULL,
          started_at = COALESCE(started_at, ${request.now}),
          updated_at = ${request.now}
      WHERE id = COALESCE(
        (SELECT id FROM durably_runs
          WHERE status = 'running' AND ${abandoned(request)}
            AND +job_name IN (${jobNames})
          ORDER BY heartbeat_at LIMIT 1),
        (SELECT candidate.id FROM durably_runs AS candidate INDEXED BY durably_runs_claimable
          WHERE candidate.status = 'pending' AND candidate.available_at <= ${request.now}
            AND +candidate.job_name IN (${jobNames})
            AND (candidate.concurrency_key IS NULL OR NOT EXISTS (
              SELECT 1 FROM durably_runs AS busy
              WHERE busy.status = 'running' AND busy.concurrency_key = candidate.concurrency_key))
          ORDER BY candidate.available_at, candidate.id LIMIT 1)
      )
      RETURNING id, job_name, payload, lease_generation, idempotency_key`.execute(db)
    return result.rows[0] ?? null
  },

  async commitStep(db, lease: Lease, step: NewStep) {
    // One statement: the lease check and the insert cannot be separated by another writer.
    const result = await sql`
      INSERT INTO durably_steps (id, run_id, name, step_index, status, output, error, started_at, completed_at)
      SELECT ${step.id}, ${step.runId}, ${step.name}, ${step.index}, ${step.status}, ${step.output},
             ${step.error}, ${step.startedAt}, ${step.completedAt}
      WHERE EXISTS (
        SELECT 1 FROM durably_runs
        WHERE id = ${lease.runId} AND status = 'running' AND lease_generation = ${lease.generation})`.execute(
      db,
    )
    return Number(result.numAffectedRows ?? 0n) === 1
  },

  async nextWakeAt(db, jobNames, now) {
    if (jobNames.length === 0) return null
    // Named index for the same reason as the claim's: the first entry after `now` answers.
    const result = await sql<{ available_at: string }>`
      SELECT available_at FROM durably_runs INDEXED BY durably_runs_claimable
      WHERE status = 'pending' AND available_at > ${now}
        AND job_name IN (${sql.join(jobNames.map((name) => sql`${name}`))})
      ORDER BY available_at LIMIT 1`.execute(db)
    return result.rows[0]?.available_at ?? null
  },

  async suspendRun(db, lease: Lease, suspension: Suspension) {
    // Two fenced statements, each refused once the lease is gone. A crash between them
    // leaves the wait's step recorded and the run still leased: whoever recovers the run
    // replays the step, finds the wait, and suspends it again, so the outcome is the same
    // as one statement's. (libSQL runs each transaction on a fresh connection, which is why
    // SQLite writes stay single statements.)
    if (suspension.step && !(await sqliteFamily.commitStep(db, lease, suspension.step)))
      return false
    const result = await sql`
      UPDATE durably_runs
      SET status = 'pending', lease_owner = NULL, heartbeat_at = NULL,
          available_at = ${suspension.availableAt}, wait_for = ${suspension.waitingFor},
          updated_at = ${suspension.now}
      WHERE id = ${lease.runId} AND status = 'running' AND lease_generation = ${lease.generation}`.execute(
      db,
    )
    return Number(result.numAffectedRows ?? 0n) === 1
  },

  async insertRuns(db, runs: readonly NewRun[]) {
    if (runs.length === 0) return []
    // One parameter whatever the batch size (SQLite caps bound variables), one statement,
    // so the batch is atomic without a transaction.
    const rows = JSON.stringify(
      runs.map((run) => [
        run.id,
        run.jobName,
        run.payload,
        run.idempotencyKey,
        run.concurrencyKey,
        run.createdAt,
        run.availableAt,
        run.waitingFor,
      ]),
    )
    const result = await sql<RunRow>`
      INSERT INTO durably_runs (id, job_name, payload, status, idempotency_key, concurrency_key,
                                lease_generation, created_at, updated_at, available_at, wait_for)
      SELECT value ->> 0, value ->> 1, value ->> 2, 'pending', value ->> 3, value ->> 4, 0,
             value ->> 5, value ->> 5, value ->> 6, value ->> 7
      FROM json_each(${rows})
      WHERE true
      ON CONFLICT DO NOTHING
      RETURNING *`.execute(db)
    return result.rows
  },

  readJson: parseJsonText,

  readTime(value) {
    return value instanceof Date ? value.toISOString() : String(value)
  },

  isBusy(error) {
    const text = `${(error as { code?: unknown })?.code ?? ''} ${(error as Error)?.message ?? ''}`
    return /SQLITE_BUSY|SQLITE_LOCKED|database is locked|database table is locked/i.test(text)
  },

  isConnectionLost() {
    // An embedded database has no connection to lose.
    return false
  },
}

async function tryPragma(
  db: Kysely<Database>,
  pragma: ReturnType<typeof sql>,
): Promise<string | undefined> {
  try {
    const result = await pragma.execute(db)
    const row = result.rows[0] as Record<string, unknown> | undefined
    const value = row ? Object.values(row)[0] : undefined
    return typeof value === 'string' ? value.toLowerCase() : undefined
  } catch {
    return undefined
  }
}

/** Which running runs are abandoned: stale, or (where liveness is known) owned by nobody alive. */
function abandoned({ staleBefore, liveness }: ClaimRequest) {
  if (!liveness) return sql`heartbeat_at < ${staleBefore}`
  const alive = liveness.aliveOwners.length
    ? sql`lease_owner NOT IN (${sql.join(liveness.aliveOwners.map((owner) => sql`${owner}`))})`
    : sql`1 = 1`
  return sql`(heartbeat_at < ${staleBefore} OR (heartbeat_at < ${liveness.observedAt} AND ${alive}))`
}
