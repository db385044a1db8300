/**
 * SQLite (libSQL, better-sqlite3, SQLocal). SQLite serialises writers, so a single
 * `UPDATE … WHERE id = (SELECT … LIMIT 1) RETURNING *` is an atomic claim: the choice and
 * the update happen under one write lock. Writes are single statements wherever possible,
 * because libSQL's client opens a fresh connection (without our pragmas) for every
 * transaction it is asked for.
 */
import { type Kysely, sql } from 'kysely'
import { MAX_PRIORITY } from '../flow.js'
import { pause } from '../retry.js'
import { parseJsonText } from '../serialize.js'
import { compiledStatement, type Slots } from './compiled.js'
import { eventWaitColumns, waitSatisfied } from './event-match.js'
import type { SqlFamily } from './family.js'
import { admissible, freeSlot, nextAttempt } from './flow-sql.js'
import { insertedRunRow } from './rows.js'
import type { ClaimedRow, Database, RunRow } from './schema.js'
import {
  moveThrottled,
  parkBehindFullKey,
  sqliteFlowSchema,
  sqliteThrottleTaken,
} from './sqlite-flow.js'
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
  },

  async claimNextRun(db, request: ClaimRequest) {
    if (request.jobNames.length === 0) return null
    // The quick claim is tried while the runs claimed lately were plain, so a backlog behind
    // flow control or priorities does not pay for a miss before every claim.
    const claimed = await claimRun(db, request, lastClaimWasPlain.get(db) !== false)
    if (claimed) lastClaimWasPlain.set(db, claimed.plain)
    return claimed?.row ?? null
  },

  async commitStep(db, lease: Lease, step: NewStep) {
    const result = await commitStepStatement(db, {
      ...step,
      leaseRunId: lease.runId,
      generation: lease.generation,
    })
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
        ? await insertRunStatement(db, runValues(runs[0] as NewRun))
        : await insertRunsStatement(db, {
            // One parameter whatever the batch size (SQLite caps bound variables), one
            // statement, so the batch is atomic without a transaction.
            rows: JSON.stringify(
              runs.map((run) => RUN_COLUMNS.map((column) => runValues(run)[column])),
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

  isBusy(error) {
    const text = `${(error as { code?: unknown })?.code ?? ''} ${(error as Error)?.message ?? ''}`
    return /SQLITE_BUSY|SQLITE_LOCKED|database is locked|database table is locked/i.test(text)
  },

  isConnectionLost() {
    // An embedded database has no connection to lose.
    return false
  },
}

/** A claim's values: its job names and live owners numbered, so its statement has one shape per count. */
type ClaimValues = {
  owner: string
  now: string
  staleBefore: string | null
  observedAt: string | null
  jobs: number
  /** Live owners' count, or -1 where liveness is not known. */
  alive: number
} & Record<`job${number}` | `alive${number}`, string>

function claimValues(request: ClaimRequest): ClaimValues {
  const values: ClaimValues = {
    owner: request.owner,
    now: request.now,
    staleBefore: request.staleBefore,
    observedAt: request.liveness?.observedAt ?? null,
    jobs: request.jobNames.length,
    alive: request.liveness ? request.liveness.aliveOwners.length : -1,
  }
  request.jobNames.forEach((name, index) => {
    values[`job${index}`] = name
  })
  request.liveness?.aliveOwners.forEach((owner, index) => {
    values[`alive${index}`] = owner
  })
  return values
}

/**
 * What a claim returns: the payload as its own column, everything else as one JSON array.
 * libSQL's client pays per returned column (metadata, then two property definitions per
 * value), more than SQLite takes to build and JavaScript to parse the array.
 */
interface CompactClaim {
  id: string
  payload: string
  rest: string
}

const compactReturning = sql`RETURNING id, payload, json_array(job_name, lease_generation,
  idempotency_key, wait_for, attempt, concurrency_key, concurrency_limit, throttle_key,
  throttle_limit, throttle_period, started_at, priority) AS rest`

function claimedRow({ id, payload, rest }: CompactClaim): { row: ClaimedRow; plain: boolean } {
  const [
    job_name,
    lease_generation,
    idempotency_key,
    wait_for,
    attempt,
    concurrency_key,
    concurrency_limit,
    throttle_key,
    throttle_limit,
    throttle_period,
    started_at,
    priority,
  ] = JSON.parse(rest)
  return {
    row: {
      id,
      payload,
      job_name,
      lease_generation,
      idempotency_key,
      wait_for,
      attempt,
      concurrency_key,
      concurrency_limit,
      throttle_key,
      throttle_limit,
      throttle_period,
      started_at,
    },
    plain: concurrency_key === null && throttle_key === null && priority === null,
  }
}

/** Whether the last run claimed through a Kysely instance had no flow control or priority. */
const lastClaimWasPlain = new WeakMap<Kysely<Database>, boolean>()

/**
 * One claim: the quick statement first when `tryQuick`, the full one when it takes nothing.
 * Exported for the test that holds the two to the same choices.
 */
export async function claimRun(
  db: Kysely<Database>,
  request: ClaimRequest,
  tryQuick: boolean,
): Promise<{ row: ClaimedRow; plain: boolean; quick: boolean } | null> {
  const values = claimValues(request)
  const quickRow = tryQuick ? (await quickClaimStatement(db, values)).rows[0] : undefined
  const row = quickRow ?? (await claimStatement(db, values)).rows[0]
  if (!row) return null
  const claimed = claimedRow(row)
  await afterStart(db, claimed.row, request.now)
  return { ...claimed, quick: quickRow !== undefined }
}

/** What every claim sets on the run it takes (the full claim adds the concurrency slot). */
function claimSet(slot: Slots<ClaimValues>) {
  const now = sql`${slot('now')}`
  return sql`status = 'running',
          lease_owner = ${slot('owner')},
          lease_generation = lease_generation + 1,
          heartbeat_at = ${now},
          started_at = COALESCE(started_at, ${now}),
          updated_at = ${now},
          attempt = ${nextAttempt('durably_runs', {
            kind: sql`json_extract(durably_runs.wait_for, '$.kind')`,
            step: sql`json_extract(durably_runs.wait_for, '$.step')`,
          })}`
}

function jobNameList(slot: Slots<ClaimValues>, shape: ClaimValues) {
  return sql.join(Array.from({ length: shape.jobs }, (_, index) => sql`${slot(`job${index}`)}`))
}

/** The abandoned run a claim takes first: the one whose heartbeat stopped longest ago. */
function abandonedRun(slot: Slots<ClaimValues>, shape: ClaimValues) {
  return sql`(SELECT id FROM durably_runs
          WHERE status = 'running' AND ${abandoned(slot, shape)}
            AND +job_name IN (${jobNameList(slot, shape)})
          ORDER BY heartbeat_at LIMIT 1)`
}

/**
 * The quick claim, for what most claims find: an abandoned run, else the pending run due
 * first when it has no concurrency key, no throttle and no priority, and no run with a
 * priority is due (one might rank ahead). It takes exactly the run the full claim would, or
 * nothing, and then the full claim decides. SQLite plans a statement each time libSQL's
 * client runs it, and planning the full claim's flow-control subqueries cost more than its
 * execution; this one plans in about half the time.
 */
const quickClaimStatement = compiledStatement<ClaimValues, CompactClaim>(
  (db, slot, shape) => {
    const now = sql`${slot('now')}`
    const jobNames = jobNameList(slot, shape)
    return sql<CompactClaim>`
      UPDATE durably_runs
      SET ${claimSet(slot)}
      WHERE id = COALESCE(${abandonedRun(slot, shape)},
        (SELECT id FROM durably_runs INDEXED BY durably_runs_claimable
          WHERE status = 'pending' AND available_at <= ${now}
            AND +job_name IN (${jobNames}) AND priority IS NULL
          ORDER BY available_at, id LIMIT 1))
        AND (status = 'running' OR (concurrency_key IS NULL AND throttle_key IS NULL))
        AND NOT EXISTS (SELECT 1 FROM durably_runs INDEXED BY durably_runs_ranked
          WHERE status = 'pending' AND available_at <= ${now}
            AND +job_name IN (${jobNames}) AND priority IS NOT NULL
            AND claim_rank <= strftime('%Y-%m-%dT%H:%M:%fZ', ${now}, ${`+${MAX_PRIORITY} seconds`}))
      ${compactReturning}`.compile(db)
  },
  (values) => `${values.jobs}:${values.staleBefore === null}:${values.alive}`,
)

/**
 * The claim, compiled once per shape: the number of job names, whether stale runs are looked
 * for at all (`staleBefore`), and whether (and among how many live owners) liveness is known.
 */
const claimStatement = compiledStatement<ClaimValues, CompactClaim>(
  (db, slot, shape) => {
    const jobNames = jobNameList(slot, shape)
    const now = sql`${slot('now')}`
    // Runs with a priority are ordered by their rank (due time minus the head start) through
    // their own partial index, read up to now plus the largest head start (a due run's rank
    // is never later, and parked or sleeping runs lie beyond); the others by due time. Each branch yields its first
    // admissible run and the better of the two is taken, so runs without a priority pay one
    // empty index probe for the feature.
    const pending = (branch: 'plain' | 'ranked') => {
      const ranked = branch === 'ranked'
      return sql`SELECT * FROM (SELECT candidate.id AS id,
            ${sql.ref(ranked ? 'candidate.claim_rank' : 'candidate.available_at')} AS rank
          FROM durably_runs AS candidate
          INDEXED BY ${sql.raw(ranked ? 'durably_runs_ranked' : 'durably_runs_claimable')}
          WHERE candidate.status = 'pending' AND candidate.available_at <= ${now}
            AND +candidate.job_name IN (${jobNames})
            AND candidate.priority ${sql.raw(ranked ? 'IS NOT NULL' : 'IS NULL')}
            ${ranked ? sql`AND candidate.claim_rank <= strftime('%Y-%m-%dT%H:%M:%fZ', ${now}, ${`+${MAX_PRIORITY} seconds`})` : sql``}
            AND ${admissible('candidate', now, sqliteThrottleTaken)}
          ORDER BY ${sql.ref(ranked ? 'candidate.claim_rank' : 'candidate.available_at')}, candidate.id
          LIMIT 1)`
    }
    // COALESCE evaluates lazily: abandoned runs (an index range on status, heartbeat_at)
    // come first, then the pending run due first that may start (its concurrency key has a
    // free slot, its throttle key a free start), through partial indexes of pending runs:
    // runs sleeping into the future, or parked behind a full key, are beyond the range and
    // cost nothing. Without statistics SQLite's planner prefers the status index and sorts
    // every pending row (593x slower beside 1M sleeping runs), so indexes are named:
    // INDEXED BY. Neither subquery touches terminal rows: the unary `+` keeps SQLite from
    // choosing the job_name index, which would walk every finished run.
    return sql<CompactClaim>`
      UPDATE durably_runs
      SET ${claimSet(slot)},
          concurrency_slot = CASE WHEN status = 'running' OR concurrency_key IS NULL
            THEN concurrency_slot ELSE ${freeSlot('durably_runs')} END
      WHERE id = COALESCE(${abandonedRun(slot, shape)},
        (SELECT id FROM (${pending('plain')} UNION ALL ${pending('ranked')})
          ORDER BY rank, id LIMIT 1)
      )
      ${compactReturning}`.compile(db)
  },
  (values) => `${values.jobs}:${values.staleBefore === null}:${values.alive}`,
)

/** Which running runs are abandoned: stale, or (where liveness is known) owned by nobody alive. */
function abandoned(slot: Slots<ClaimValues>, shape: ClaimValues) {
  const stale = shape.staleBefore === null ? sql`0` : sql`heartbeat_at < ${slot('staleBefore')}`
  if (shape.alive < 0) return stale
  const alive = shape.alive
    ? sql`lease_owner NOT IN (${sql.join(
        Array.from({ length: shape.alive }, (_, index) => sql`${slot(`alive${index}`)}`),
      )})`
    : sql`1 = 1`
  // An owner known to be gone is gone whatever the clock says.
  return sql`(${stale} OR (heartbeat_at < ${slot('observedAt')} AND ${alive}))`
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

/**
 * After a first start of a throttled run: move the key's waiting runs if its starts are used
 * up (a full concurrency key parks in the claim's own trigger). Bookkeeping only (the claim
 * checked the limits), so a failure here must not undo the claim: the worker would drop a
 * run it holds.
 */
async function afterStart(db: Kysely<Database>, run: ClaimedRow, now: string): Promise<void> {
  if (run.throttle_key === null || run.started_at !== now) return
  await patiently(() => moveThrottled(db, throttleOf(run), now))
}

/** Parking after an insert: runs stored behind a full key or a used-up throttle. */
async function afterInsert(db: Kysely<Database>, runs: readonly RunRow[], now: string) {
  const keys = new Map<string, number | null>()
  const throttles = new Map<string, { key: string; limit: number; period: number }>()
  for (const run of runs) {
    if (run.concurrency_key !== null) keys.set(run.concurrency_key, run.concurrency_limit)
    if (run.throttle_key !== null) throttles.set(run.throttle_key, throttleOf(run))
  }
  for (const [key, limit] of keys) await patiently(() => parkBehindFullKey(db, key, limit, now))
  for (const throttle of throttles.values()) await patiently(() => moveThrottled(db, throttle, now))
}

/**
 * A bookkeeping statement, tried again while the database is busy (another connection
 * writing: SQLocal tabs, say), and given up on otherwise: the runs are stored or claimed
 * already, claims check every limit, and a later claim or release catches up.
 */
async function patiently(write: () => Promise<void>): Promise<void> {
  for (let attempt = 1; attempt <= BOOKKEEPING_ATTEMPTS; attempt++) {
    try {
      return await write()
    } catch (error) {
      if (!sqliteFamily.isBusy(error)) return
      await pause(10 * attempt)
    }
  }
}

const BOOKKEEPING_ATTEMPTS = 5

function throttleOf(run: Pick<RunRow, 'throttle_key' | 'throttle_limit' | 'throttle_period'>) {
  return {
    key: String(run.throttle_key),
    limit: Number(run.throttle_limit),
    period: Number(run.throttle_period),
  }
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
 * lookup per key set registered for the name), and a child reaching a final status makes
 * its waiting parent claimable.
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
  await sql`CREATE TRIGGER IF NOT EXISTS durably_runs_child_finished
    AFTER UPDATE OF status ON durably_runs
    WHEN NEW.parent_run_id IS NOT NULL AND OLD.status <> NEW.status
      AND NEW.status IN ('completed', 'failed', 'cancelled')
    BEGIN
      UPDATE durably_runs SET available_at = NEW.updated_at, updated_at = NEW.updated_at
      WHERE id = NEW.parent_run_id AND status = 'pending'
        AND json_extract(wait_for, '$.kind') = 'child' AND json_extract(wait_for, '$.runId') = NEW.id
        AND available_at > NEW.updated_at;
    END`.execute(db)
}

/** What an insert stores, by column: the run's own values, in `RUN_COLUMNS` order. */
type RunValues = Record<(typeof RUN_COLUMNS)[number], string | number | null>

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
] as const

function runValues(run: NewRun): RunValues {
  return {
    id: run.id,
    job_name: run.jobName,
    payload: run.payload,
    idempotency_key: run.idempotencyKey,
    concurrency_key: run.concurrencyKey,
    created_at: run.createdAt,
    available_at: run.availableAt,
    wait_for: run.waitingFor,
    parent_run_id: run.parentRunId,
    priority: run.priority ?? null,
    concurrency_limit: run.concurrencyLimit ?? null,
    throttle_key: run.throttle?.key ?? null,
    throttle_limit: run.throttle?.limit ?? null,
    throttle_period: run.throttle?.period ?? null,
    trace_context: run.traceContext ?? null,
    debounce_key: run.debounce?.key ?? null,
  }
}

const insertedColumns = sql.raw(
  `id, job_name, payload, idempotency_key, concurrency_key, created_at, available_at, wait_for,
   parent_run_id, priority, concurrency_limit, throttle_key, throttle_limit, throttle_period,
   trace_context, debounce_key, status, lease_generation, updated_at`,
)

/** One run: plain values, which SQLite prepares faster than the batch's JSON walk. */
const insertRunStatement = compiledStatement<RunValues, { id: string }>((db, slot) => {
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
