/**
 * PostgreSQL (Kysely's PostgresDialect with `pg`). Many workers on many machines share one
 * database, so the claim locks its candidate with `FOR UPDATE SKIP LOCKED`: concurrent
 * claimers never wait on each other and never take the same row. Timestamps are
 * `timestamptz` (real instants, comparable and indexable); JSON columns are `json`, which
 * keeps the text exactly as written, key order included, so a replayed step returns what the
 * first execution returned.
 */
import { type Kysely, type RawBuilder, sql } from 'kysely'
import { compiledStatement, type Slots } from './compiled.js'
import { eventWaitColumns, waitSatisfied } from './event-match.js'
import type { SqlFamily } from './family.js'
import { completedColumns, type Fence, fencedUpdate } from './fence.js'
import { nextAttempt } from './flow-sql.js'
import { claimCandidateFunction } from './postgres-claim-candidate.js'
import { postgresFlowSchema, postgresKeyAdmission } from './postgres-flow.js'
import { isPreparedStatementLost } from './postgres-prepared.js'
import { insertedRunValues } from './rows.js'
import type { ClaimedRow, Database, RunRow } from './schema.js'
import type { ClaimRequest, Lease, NewRun, NewStep, Suspension } from './store.js'

// An arbitrary constant naming durably's migration lock among the database's advisory locks.
const MIGRATION_LOCK_KEY = 7_243_119_052
// Advisory lock classes (the first key of the two-key form) serialising a wait's suspension
// with what would wake it: sends of one event name, and wake-ups of one run.
const EVENT_LOCK_CLASS = 72_431
const RUN_LOCK_CLASS = 72_432
const CLAIM_ATTEMPTS = 8
const SOCKET_ERRORS = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT'])

/** The NOTIFY channel on which the database announces claimable work. */
export const WORK_CHANNEL = 'durably_work'

export const postgresFamily: SqlFamily = {
  name: 'postgres',
  types: { json: 'json', timestamp: 'timestamptz' },
  unboundedLimit: 2 ** 53 - 1,
  runReference: (column) => column.notNull().references('durably_runs.id').onDelete('cascade'),

  async prepare() {},

  async withMigrationLock(db, migrate) {
    return db.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`.execute(trx)
      return migrate(trx)
    })
  },

  async addRunColumn(db, name, type) {
    await sql`ALTER TABLE durably_runs ADD COLUMN IF NOT EXISTS ${sql.id(name)} ${sql.raw(type)}`.execute(
      db,
    )
  },

  async extraSchema(db, version) {
    if (version === 3) return wakeTriggers(db)
    if (version === 4) return postgresFlowSchema(db)
    if (version === 5) return postgresKeyAdmission(db)
    if (version === 7) return claimCandidateFunction(db)
    if (version !== 1) return
    // Work appears through inserts, retries (back to pending) and a running run with a
    // concurrency key ending (its waiting siblings become claimable). The database announces
    // all three itself, so every writer wakes listeners in every process, inside the writing
    // statement (no extra round trip) and only once it commits.
    await sql`
      CREATE OR REPLACE FUNCTION durably_notify_work() RETURNS trigger
      LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify(${sql.lit(WORK_CHANNEL)}, '');
        RETURN NULL;
      END
      $$`.execute(db)
    await sql`
      CREATE OR REPLACE TRIGGER durably_runs_inserted AFTER INSERT ON durably_runs
      FOR EACH STATEMENT EXECUTE FUNCTION durably_notify_work()`.execute(db)
    await sql`
      CREATE OR REPLACE TRIGGER durably_runs_freed AFTER UPDATE OF status ON durably_runs
      FOR EACH ROW WHEN (NEW.status = 'pending' OR (OLD.status = 'running'
        AND NEW.status <> 'running' AND NEW.concurrency_key IS NOT NULL))
      EXECUTE FUNCTION durably_notify_work()`.execute(db)
  },

  async claimNextRun(db, request: ClaimRequest) {
    if (request.jobNames.length === 0) return null
    // Two claimers can pick pending runs of one concurrency key at the same instant, and
    // take the same free slot: the unique index over (key, slot) of running runs lets one
    // through and the other looks again, now seeing that slot taken. A throttled run found
    // without a free start is moved to its slot by the database, and the claimer looks again.
    for (let attempt = 1; ; attempt++) {
      try {
        const outcome = await claimOnce(db, request)
        if (outcome !== 'moved') return outcome
        if (attempt >= CLAIM_ATTEMPTS) return null
      } catch (error) {
        if (!isUniqueViolation(error) || attempt >= CLAIM_ATTEMPTS) throw error
      }
    }
  },

  async completeAndClaim(db, lease: Lease, output: string | null, request: ClaimRequest) {
    try {
      const result = await completeAndClaimStatement(db, {
        owner: request.owner,
        jobNames: [...request.jobNames],
        now: request.now,
        staleSeconds: request.staleThreshold / 1000,
        runId: lease.runId,
        generation: lease.generation,
        output,
      })
      const { completed, status, ...row } = result.rows[0] ?? { completed: 0 }
      const done = Number(completed) === 1
      if (row.id == null) return { completed: done, next: null, claimAgain: false }
      // A throttled or key-filled run came back pending, moved or parked: look again.
      if (status !== 'running') return { completed: done, next: null, claimAgain: true }
      return { completed: done, next: row as ClaimedRow, claimAgain: false }
    } catch (error) {
      if (isUniqueViolation(error)) return 'collided'
      throw error
    }
  },

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
    // The partial index of pending runs by available_at answers from its first entry after now.
    const result = await sql<{ available_at: Date | string }>`
      SELECT available_at FROM durably_runs
      WHERE status = 'pending' AND available_at > ${now}::timestamptz
        AND job_name = ANY(${[...jobNames]}::text[])
      ORDER BY available_at LIMIT 1`.execute(db)
    const next = result.rows[0]?.available_at
    return next === undefined ? null : postgresFamily.readTime(next)
  },

  async suspendRun(db, lease: Lease, suspension: Suspension) {
    const condition = suspension.condition
    if (!condition) return releaseWithStep(db, lease, suspension)
    // A wait that something else completes: under READ COMMITTED, a send and this check
    // could each miss the other's uncommitted write. Both sides take the same advisory
    // locks first (the event's name, the run's id), and each statement after a lock reads
    // a fresh snapshot, so whichever comes second sees the first.
    return db.transaction().execute(async (trx) => {
      const eventQuery = condition.kind === 'event' ? condition : undefined
      if (eventQuery) {
        await lock(trx, EVENT_LOCK_CLASS, eventQuery.event)
        await trx
          .insertInto('durably_event_keys')
          .values({ event_name: eventQuery.event, keys: eventQuery.keys })
          .onConflict((conflict) => conflict.doNothing())
          .execute()
      }
      await lock(trx, RUN_LOCK_CLASS, lease.runId)
      const wait = eventWaitColumns(postgresFamily, eventQuery)
      const result = await sql`
        UPDATE durably_runs
        SET status = 'pending', lease_owner = NULL, heartbeat_at = NULL,
            available_at = CASE WHEN EXISTS (${waitSatisfied(postgresFamily, lease.runId, condition)})
              THEN ${suspension.now}::timestamptz ELSE ${suspension.availableAt}::timestamptz END,
            wait_for = ${suspension.waitingFor}::json,
            wait_event = ${wait.event}, wait_correlation = ${wait.correlation},
            updated_at = ${suspension.now}::timestamptz
        WHERE id = ${lease.runId} AND status = 'running' AND lease_generation = ${lease.generation}`.execute(
        trx,
      )
      return Number(result.numAffectedRows ?? 0n) === 1
    })
  },

  correlation(json, keys) {
    return sql<string>`durably_correlation((${json})::jsonb, (${keys})::text)`
  },

  textList(values) {
    return sql<string>`SELECT unnest(${[...values]}::text[])`
  },

  async insertRuns(db, runs: readonly NewRun[]) {
    if (runs.length === 0) return []
    const rows = JSON.stringify(runs.map(insertedRunValues))
    const result = await insertRunsStatement(db, { rows })
    return result.rows
  },

  readJson(value) {
    // `pg` parses json columns already; a string here is a JSON string value.
    return value === null ? undefined : value
  },

  leaseTime: () => sql<string>`now()`,

  async databaseTime(db) {
    const result = await sql<{ ms: number | string }>`
      SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms`.execute(db)
    return Number(result.rows[0]?.ms)
  },

  readTime(value) {
    return value instanceof Date ? value.toISOString() : new Date(String(value)).toISOString()
  },

  isBusy(error) {
    // serialization_failure and deadlock_detected: the statement can simply be tried again;
    // so can a prepared statement the server refused before running it (now sent as text).
    const code = (error as { code?: unknown })?.code
    return code === '40001' || code === '40P01' || isPreparedStatementLost(error)
  },

  isConnectionLost(error) {
    const code = (error as { code?: unknown })?.code
    if (typeof code === 'string' && SOCKET_ERRORS.has(code)) return true
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
      // Class 08 is connection exceptions; 57P01-57P03 are the server shutting a backend down.
      return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03'
    }
    // `pg` reports a connection that ended under a query without any code.
    const message = (error as { message?: unknown })?.message
    return typeof message === 'string' && /connection terminated/i.test(message)
  },
}

async function claimOnce(db: Kysely<Database>, request: ClaimRequest): Promise<ClaimOutcome> {
  const result = await claimStatement(db, {
    owner: request.owner,
    jobNames: [...request.jobNames],
    now: request.now,
    staleSeconds: request.staleThreshold / 1000,
  })
  const row = result.rows[0]
  if (!row) return null
  // A throttled run whose start slots were all taken comes back pending, moved to its slot.
  if (row.status !== 'running') return 'moved'
  const { status: _status, ...claimed } = row
  return claimed
}

/** The claim's values; its text is the same for every claim, compiled once. */
interface ClaimValues {
  owner: string
  jobNames: string[]
  now: string
  staleSeconds: number
}

const claimStatement = compiledStatement<ClaimValues, ClaimedRow & { status: string }>(
  (db, slot) => {
    const { candidates, claim } = claimParts(slot)
    return sql<ClaimedRow & { status: string }>`WITH ${candidates} ${claim}`.compile(db)
  },
)

/**
 * The claim as CTEs naming its candidate (`candidates`) and the UPDATE that takes it
 * (`claim`), so that a completion can carry a claim in its statement. `excluded` is a run the
 * claim must not recover as abandoned: the one being completed in the same statement.
 */
function claimParts(slot: Slots<ClaimValues>, excluded?: RawBuilder<unknown>) {
  const jobNames = sql`${slot('jobNames')}::text[]`
  // What is due is judged by the instance's clock, which on PostgreSQL follows the
  // database's (src/clock.ts) and orders this process's own writes: a run it has just
  // stored is never taken for not yet due, as it could be by now(), read on the server a
  // hair before the client's reading of it. What is stale is judged by now() itself.
  const now = sql`${slot('now')}::timestamptz`
  // The run to take, chosen and locked by the function (postgres-claim-candidate.ts).
  const candidates = sql`candidate AS (
      SELECT candidate_id AS id, candidate_slot AS slot
      FROM durably_claim_candidate(${jobNames}, ${now}, ${slot('staleSeconds')}::float8,
        ${excluded ?? sql`NULL`}::text)
    )`
  const claim = sql`
    UPDATE durably_runs AS run
    SET status = 'running',
        lease_owner = ${slot('owner')},
        lease_generation = run.lease_generation + 1,
        heartbeat_at = ${now},
        started_at = COALESCE(run.started_at, ${now}),
        updated_at = ${now},
        attempt = ${nextAttempt('run', {
          kind: sql`run.wait_for ->> 'kind'`,
          step: sql`run.wait_for ->> 'step'`,
        })},
        concurrency_slot = candidate.slot
    FROM candidate
    WHERE run.id = candidate.id
    RETURNING run.id, run.job_name, run.payload::text AS payload, run.lease_generation,
              run.idempotency_key, run.wait_for::text AS wait_for, run.attempt, run.status,
              run.concurrency_key, run.concurrency_limit, run.throttle_key, run.throttle_limit,
              run.throttle_period, run.started_at`
  return { candidates, claim }
}

/** A completion (at the claim's `now`) and the claim it carries. */
type CompletionValues = ClaimValues & Fence & { output: string | null }

/**
 * A run without a concurrency key completes, and the next run is claimed, in one statement:
 * one commit instead of two. The claim sees the table as it was before the completion (one
 * snapshot), which only matters to the completed run itself: it is excluded.
 */
const completeAndClaimStatement = compiledStatement<
  CompletionValues,
  { completed: number } & Partial<ClaimedRow & { status: string }>
>((db, slot) => {
  const { candidates, claim } = claimParts(slot, sql`${slot('runId')}`)
  return sql<{ completed: number } & Partial<ClaimedRow & { status: string }>>`
    WITH done AS (${fencedUpdate(db, slot, completedColumns(slot('output'), slot('now'))).returning('id')}),
    ${candidates}, claimed AS (${claim})
    SELECT (SELECT COUNT(*) FROM done)::int AS completed, claimed.*
    FROM (SELECT 1) AS one LEFT JOIN claimed ON true`.compile(db)
})

/** A step's row and the lease it is written under. */
type StepValues = NewStep & { leaseRunId: string; generation: number }

// The UPDATE locks the run row and re-checks the lease under that lock, so a claim by
// another worker cannot slip between the check and the insert.
const commitStepStatement = compiledStatement<StepValues>((db, slot) =>
  sql`
      WITH lease AS (
        UPDATE durably_runs SET updated_at = ${slot('completedAt')}::timestamptz
        WHERE id = ${slot('leaseRunId')} AND status = 'running' AND lease_generation = ${slot('generation')}
        RETURNING id
      )
      INSERT INTO durably_steps (id, run_id, name, step_index, status, output, error, started_at, completed_at)
      SELECT ${slot('id')}, lease.id, ${slot('name')}, ${slot('index')}, ${slot('status')}, ${slot('output')}::json,
             ${slot('error')}, ${slot('startedAt')}::timestamptz, ${slot('completedAt')}::timestamptz
      FROM lease`.compile(db),
)

/** What one claim statement did: took a run, found none, or moved a throttled run instead. */
type ClaimOutcome = ClaimedRow | null | 'moved'

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown })?.code === '23505'
}

/** Suspend without a condition (a sleep): the release and the wait's step in one statement. */
async function releaseWithStep(
  db: Kysely<Database>,
  lease: Lease,
  suspension: Suspension,
): Promise<boolean> {
  // The UPDATE hands the run back under the lease check, and the wait's step (on first
  // execution) is inserted only if it did.
  const release = sql`
    UPDATE durably_runs
    SET status = 'pending', lease_owner = NULL, heartbeat_at = NULL,
        available_at = ${suspension.availableAt}::timestamptz,
        wait_for = ${suspension.waitingFor}::json, wait_event = NULL, wait_correlation = NULL,
        updated_at = ${suspension.now}::timestamptz
    WHERE id = ${lease.runId} AND status = 'running' AND lease_generation = ${lease.generation}
    RETURNING id`
  const step = suspension.step
  if (!step) {
    const result = await release.execute(db)
    return result.rows.length === 1
  }
  const result = await sql<{ id: string }>`
    WITH lease AS (${release})
    INSERT INTO durably_steps (id, run_id, name, step_index, status, output, error, started_at, completed_at)
    SELECT ${step.id}, lease.id, ${step.name}, ${step.index}, ${step.status}, ${step.output}::json,
           ${step.error}, ${step.startedAt}::timestamptz, ${step.completedAt}::timestamptz
    FROM lease
    RETURNING run_id AS id`.execute(db)
  return result.rows.length === 1
}

async function lock(db: Kysely<Database>, lockClass: number, name: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(${lockClass}::int, hashtext(${name}))`.execute(db)
}

/**
 * The correlation function, and wake-ups as triggers in the statement that causes them: an
 * event inserted makes every run waiting for it claimable (through the event-waits index,
 * one lookup per key set registered for the name), a child reaching a final status makes
 * its waiting parent claimable; each takes the advisory lock its waiters take, and NOTIFYs.
 */
async function wakeTriggers(db: Kysely<Database>): Promise<void> {
  await sql`
    CREATE OR REPLACE FUNCTION durably_correlation(data jsonb, keys text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
      SELECT COALESCE(json_agg(data -> k.key ORDER BY k.ord), '[]'::json)::text
      FROM json_array_elements_text(keys::json) WITH ORDINALITY AS k(key, ord)
    $$`.execute(db)
  await sql`
    CREATE OR REPLACE FUNCTION durably_event_sent() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.target_run_id IS NULL THEN
        PERFORM pg_advisory_xact_lock(${sql.lit(EVENT_LOCK_CLASS)}, hashtext(NEW.name));
        UPDATE durably_runs SET available_at = NEW.created_at, updated_at = NEW.created_at
        WHERE status = 'pending' AND wait_event = NEW.name
          AND wait_correlation IN (SELECT durably_correlation(NEW.data::jsonb, keyset.keys)
                                   FROM durably_event_keys AS keyset
                                   WHERE keyset.event_name = NEW.name)
          AND available_at > NEW.created_at AND created_at <= NEW.created_at;
      ELSE
        -- A signal wakes its run whatever the match: the run checks it on replay.
        PERFORM pg_advisory_xact_lock(${sql.lit(RUN_LOCK_CLASS)}, hashtext(NEW.target_run_id));
        UPDATE durably_runs SET available_at = NEW.created_at, updated_at = NEW.created_at
        WHERE id = NEW.target_run_id AND status = 'pending' AND wait_event = NEW.name
          AND available_at > NEW.created_at;
      END IF;
      IF FOUND THEN PERFORM pg_notify(${sql.lit(WORK_CHANNEL)}, ''); END IF;
      RETURN NULL;
    END
    $$`.execute(db)
  await sql`
    CREATE OR REPLACE TRIGGER durably_events_inserted AFTER INSERT ON durably_events
    FOR EACH ROW EXECUTE FUNCTION durably_event_sent()`.execute(db)
  await sql`
    CREATE OR REPLACE FUNCTION durably_child_finished() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_advisory_xact_lock(${sql.lit(RUN_LOCK_CLASS)}, hashtext(NEW.parent_run_id));
      UPDATE durably_runs SET available_at = NEW.updated_at, updated_at = NEW.updated_at
      WHERE id = NEW.parent_run_id AND status = 'pending'
        AND wait_for ->> 'kind' = 'child' AND wait_for ->> 'runId' = NEW.id
        AND available_at > NEW.updated_at;
      IF FOUND THEN PERFORM pg_notify(${sql.lit(WORK_CHANNEL)}, ''); END IF;
      RETURN NULL;
    END
    $$`.execute(db)
  await sql`
    CREATE OR REPLACE TRIGGER durably_runs_child_finished AFTER UPDATE OF status ON durably_runs
    FOR EACH ROW WHEN (NEW.parent_run_id IS NOT NULL AND OLD.status <> NEW.status
      AND NEW.status IN ('completed', 'failed', 'cancelled'))
    EXECUTE FUNCTION durably_child_finished()`.execute(db)
}

/** The batch insert: one text whatever the batch size (its rows are one JSON parameter). */
const insertRunsStatement = compiledStatement<{ rows: string }, RunRow>((db, slot) =>
  sql<RunRow>`
    INSERT INTO durably_runs (id, job_name, payload, status, idempotency_key, concurrency_key,
                              lease_generation, created_at, updated_at, available_at, wait_for,
                              parent_run_id, priority, concurrency_limit, throttle_key,
                              throttle_limit, throttle_period, trace_context, debounce_key)
    SELECT item.id, item.job_name, item.payload::json, 'pending', item.idempotency_key, item.concurrency_key,
           0, item.created_at, item.created_at, item.available_at, item.wait_for::json,
           item.parent_run_id, item.priority, item.concurrency_limit, item.throttle_key,
           item.throttle_limit, item.throttle_period, item.trace_context::json, item.debounce_key
    FROM json_to_recordset(${slot('rows')}::json) AS item(id text, job_name text, payload text,
         idempotency_key text, concurrency_key text, created_at timestamptz,
         available_at timestamptz, wait_for text, parent_run_id text, priority integer,
         concurrency_limit integer, throttle_key text, throttle_limit integer,
         throttle_period integer, trace_context text, debounce_key text)
    ON CONFLICT DO NOTHING
    RETURNING *`.compile(db),
)
