/**
 * SQLite (libSQL, better-sqlite3, SQLocal). SQLite serialises writers, so a single statement
 * that chooses and writes is atomic (the claim: sqlite-claim.ts). Writes are single
 * statements wherever possible, because libSQL's client opens a fresh connection (without
 * our pragmas) for every transaction it is asked for.
 */
import { type Kysely, sql } from 'kysely'
import { parseJsonText } from '../serialize.js'
import { compiledStatement } from './compiled.js'
import { eventWaitColumns, waitSatisfied } from './event-match.js'
import type { SqlFamily } from './family.js'
import { type InsertedRunValues, insertedRunRow, insertedRunValues } from './rows.js'
import type { Database } from './schema.js'
import { isSqliteBusy } from './sqlite-busy.js'
import { claimNextSqliteRun } from './sqlite-claim.js'
import { afterInsert, sqliteFlowSchema, sqliteSlotTakenTrigger } from './sqlite-flow.js'
import type { Lease, NewRun, NewStep, Suspension } from './store.js'

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
    if (version === 1) {
      // Foreign keys are off by default per SQLite connection, so a trigger (part of the
      // DELETE statement itself) removes a run's steps and logs atomically instead.
      await sql`CREATE TRIGGER IF NOT EXISTS durably_runs_delete_children
        AFTER DELETE ON durably_runs
        BEGIN
          DELETE FROM durably_steps WHERE run_id = OLD.id;
          DELETE FROM durably_logs WHERE run_id = OLD.id;
        END`.execute(db)
    }
    if (version === 3) await wakeTriggers(db)
    if (version === 4) {
      await sql`CREATE TRIGGER IF NOT EXISTS durably_runs_delete_attempts
        AFTER DELETE ON durably_runs
        BEGIN
          DELETE FROM durably_attempts WHERE run_id = OLD.id;
        END`.execute(db)
      await sqliteFlowSchema(db)
    }
    if (version === 6) {
      // Each new trigger exists before the one it replaces goes, so no write meanwhile misses
      // both (one firing twice changes nothing), and processes migrating at once (SQLite has
      // no migration lock) agree whatever the order.
      await childEndedTrigger(db)
      await sql`DROP TRIGGER IF EXISTS durably_runs_child_finished`.execute(db)
      await sqliteSlotTakenTrigger(db)
      await sql`DROP TRIGGER IF EXISTS durably_runs_key_filled`.execute(db)
    }
  },

  claimNextRun: claimNextSqliteRun,

  async commitStep(db, lease: Lease, step: NewStep) {
    // Not a spread: see insertedRunRow (rows.ts).
    const result = await commitStepStatement(
      db,
      Object.assign({}, step, { leaseRunId: lease.runId, generation: lease.generation }),
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
    // Fenced statements, each refused once the lease is gone. A crash between them leaves
    // the wait's step recorded (or its key set registered) and the run still leased:
    // whoever recovers the run replays to the wait and suspends it again, so the outcome
    // is the same as one statement's. (libSQL runs each transaction on a fresh connection,
    // which is why SQLite writes stay single statements.)
    if (suspension.step && !(await sqliteFamily.commitStep(db, lease, suspension.step)))
      return false
    const condition = suspension.condition
    const eventQuery = condition?.kind === 'event' ? condition : undefined
    if (eventQuery) await registerKeys(db, eventQuery.event, eventQuery.keys)
    const wait = eventWaitColumns(sqliteFamily, eventQuery)
    // SQLite serialises writers: the check below and a send (or a child finishing) cannot
    // interleave, so whichever comes second sees the other.
    const availableAt = condition
      ? sql`CASE WHEN EXISTS (${waitSatisfied(sqliteFamily, lease.runId, condition)}) THEN ${suspension.now}
            ELSE ${suspension.availableAt} END`
      : sql`${suspension.availableAt}`
    const result = await sql`
      UPDATE durably_runs
      SET status = 'pending', lease_owner = NULL, heartbeat_at = NULL,
          ${lease.keyed ? sql`concurrency_limit = concurrency_limit,` : sql``}
          available_at = ${availableAt}, wait_for = ${suspension.waitingFor},
          wait_event = ${wait.event}, wait_correlation = ${wait.correlation},
          updated_at = ${suspension.now}
      WHERE id = ${lease.runId} AND status = 'running' AND lease_generation = ${lease.generation}`.execute(
      db,
    )
    return Number(result.numAffectedRows ?? 0n) === 1
  },

  correlation(json, keys) {
    return sql<string>`(SELECT json_group_array(json_extract(${json}, '$."' || k.value || '"'))
      FROM json_each(${keys}) AS k)`
  },

  textList(values) {
    return sql<string>`SELECT value FROM json_each(${JSON.stringify(values)})`
  },

  async insertRuns(db, runs: readonly NewRun[]) {
    if (runs.length === 0) return []
    const result =
      runs.length === 1
        ? await insertRunStatement(db, insertedRunValues(runs[0] as NewRun))
        : await insertRunsStatement(db, {
            // One parameter whatever the batch size (SQLite caps bound variables), one
            // statement, so the batch is atomic without a transaction.
            rows: JSON.stringify(
              runs.map((run) => {
                const values = insertedRunValues(run)
                return RUN_COLUMNS.map((column) => values[column])
              }),
            ),
          })
    // Only the ids come back: a run whose idempotency or debounce key was taken is not stored.
    const stored = new Set(result.rows.map((row) => row.id))
    const rows = runs.filter((run) => stored.has(run.id)).map(insertedRunRow)
    await afterInsert(db, rows, runs[0]?.createdAt ?? new Date().toISOString())
    return rows
  },

  readJson: parseJsonText,

  leaseTime: (now) => now,

  databaseTime: async () => null,

  readTime(value) {
    return value instanceof Date ? value.toISOString() : String(value)
  },

  isBusy: isSqliteBusy,

  isConnectionLost() {
    // An embedded database has no connection to lose.
    return false
  },
}

/** A step's row and the lease it is written under. */
type StepValues = NewStep & { leaseRunId: string; generation: number }

// One statement: the lease check and the insert cannot be separated by another writer.
const commitStepStatement = compiledStatement<StepValues>((db, slot) =>
  sql`
      INSERT INTO durably_steps (id, run_id, name, step_index, status, output, error, started_at, completed_at)
      SELECT ${slot('id')}, ${slot('runId')}, ${slot('name')}, ${slot('index')}, ${slot('status')}, ${slot('output')},
             ${slot('error')}, ${slot('startedAt')}, ${slot('completedAt')}
      WHERE EXISTS (
        SELECT 1 FROM durably_runs
        WHERE id = ${slot('leaseRunId')} AND status = 'running' AND lease_generation = ${slot('generation')})`.compile(
    db,
  ),
)

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

async function registerKeys(db: Kysely<Database>, event: string, keys: string): Promise<void> {
  await db
    .insertInto('durably_event_keys')
    .values({ event_name: event, keys })
    .onConflict((conflict) => conflict.doNothing())
    .execute()
}

/**
 * Wake-ups as triggers, so they are part of the statement that causes them: inserting an
 * event makes every run waiting for it claimable (found through the event-waits index, one
 * lookup per key set registered for the name). A child's end wakes its parent through
 * `childEndedTrigger`.
 */
async function wakeTriggers(db: Kysely<Database>): Promise<void> {
  const correlation = sqliteFamily.correlation(sql.raw('NEW.data'), sql.raw('keyset.keys'))
  // The unary + keeps SQLite's planner (no statistics, no INDEXED BY inside a trigger) off
  // the status indexes, so the event-waits index answers: 10,000 waiters cost a send nothing.
  await sql`CREATE TRIGGER IF NOT EXISTS durably_events_broadcast
    AFTER INSERT ON durably_events WHEN NEW.target_run_id IS NULL
    BEGIN
      UPDATE durably_runs SET available_at = NEW.created_at, updated_at = NEW.created_at
      WHERE wait_event = NEW.name AND +status = 'pending'
        AND wait_correlation IN (SELECT ${correlation} FROM durably_event_keys AS keyset
                                 WHERE keyset.event_name = NEW.name)
        AND available_at > NEW.created_at AND created_at <= NEW.created_at;
    END`.execute(db)
  // A signal wakes its run whatever the match: the run checks it on replay.
  await sql`CREATE TRIGGER IF NOT EXISTS durably_events_signal
    AFTER INSERT ON durably_events WHEN NEW.target_run_id IS NOT NULL
    BEGIN
      UPDATE durably_runs SET available_at = NEW.created_at, updated_at = NEW.created_at
      WHERE id = NEW.target_run_id AND status = 'pending' AND wait_event = NEW.name
        AND available_at > NEW.created_at;
    END`.execute(db)
}

/**
 * A child reaching a final status makes its waiting parent claimable. Every write that ends
 * a run sets `completed_at` and no claim does, so claims do not compile this trigger (schema
 * version 6; version 3 had `durably_runs_child_finished` on `status`, which every claim sets).
 */
async function childEndedTrigger(db: Kysely<Database>): Promise<void> {
  await sql`CREATE TRIGGER IF NOT EXISTS durably_runs_child_ended
    AFTER UPDATE OF completed_at ON durably_runs
    WHEN NEW.parent_run_id IS NOT NULL AND OLD.status <> NEW.status
      AND NEW.status IN ('completed', 'failed', 'cancelled')
    BEGIN
      UPDATE durably_runs SET available_at = NEW.updated_at, updated_at = NEW.updated_at
      WHERE id = NEW.parent_run_id AND status = 'pending'
        AND json_extract(wait_for, '$.kind') = 'child' AND json_extract(wait_for, '$.runId') = NEW.id
        AND available_at > NEW.updated_at;
    END`.execute(db)
}

/** The columns a run brings, in the order the insert statements list them. */
const RUN_COLUMNS = [
  'id',
  'job_name',
  'payload',
  'idempotency_key',
  'concurrency_key',
  'created_at',
  'available_at',
  'wait_for',
  'parent_run_id',
  'priority',
  'concurrency_limit',
  'throttle_key',
  'throttle_limit',
  'throttle_period',
  'trace_context',
  'debounce_key',
] as const satisfies readonly (keyof InsertedRunValues)[]

const insertedColumns = sql.raw(`${RUN_COLUMNS.join(', ')}, status, lease_generation, updated_at`)

/** One run: plain values, which SQLite prepares faster than the batch's JSON walk. */
const insertRunStatement = compiledStatement<InsertedRunValues, { id: string }>((db, slot) => {
  const values = RUN_COLUMNS.map((column) => sql`${slot(column)}`)
  return sql<{ id: string }>`
    INSERT INTO durably_runs (${insertedColumns})
    VALUES (${sql.join(values)}, 'pending', 0, ${slot('created_at')})
    ON CONFLICT DO NOTHING
    RETURNING id`.compile(db)
})

/** The batch insert: one text whatever the batch size (its rows are one JSON parameter). */
const insertRunsStatement = compiledStatement<{ rows: string }, { id: string }>((db, slot) => {
  const values = RUN_COLUMNS.map((_, index) => sql.raw(`value ->> ${index}`))
  return sql<{ id: string }>`
    INSERT INTO durably_runs (${insertedColumns})
    SELECT ${sql.join(values)}, 'pending', 0, value ->> 5
    FROM json_each(${slot('rows')})
    WHERE true
    ON CONFLICT DO NOTHING
    RETURNING id`.compile(db)
})
