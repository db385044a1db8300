/**
 * SQLite's claim. SQLite serialises writers, so one `UPDATE … WHERE id = (SELECT … LIMIT 1)
 * RETURNING …` is an atomic claim: the choice and the update happen under one write lock.
 * Our drivers prepare every statement anew, and planning the full claim (flow control and
 * priorities) costs more than running it, so a quick statement for plain runs goes first.
 */
import { type Kysely, type RawBuilder, sql } from 'kysely'
import { MAX_PRIORITY } from '../flow.js'
import { compiledStatement, type Slots } from './compiled.js'
import { admissible, freeSlot, nextAttempt } from './flow-sql.js'
import type { ClaimedRow, Database } from './schema.js'
import { afterStart, sqliteThrottleTaken } from './sqlite-flow.js'
import type { ClaimRequest } from './store.js'

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

/** What the JSON column carries, in order: the claimed row's other columns, and `priority`. */
const CLAIMED_COLUMNS = [
  'job_name',
  'lease_generation',
  'idempotency_key',
  'wait_for',
  'attempt',
  'concurrency_key',
  'concurrency_limit',
  'throttle_key',
  'throttle_limit',
  'throttle_period',
  'started_at',
  'priority',
] as const

const compactReturning = sql.raw(
  `RETURNING id, payload, json_array(${CLAIMED_COLUMNS.join(', ')}) AS rest`,
)

function claimedRow({ id, payload, rest }: CompactClaim): { row: ClaimedRow; plain: boolean } {
  const values: unknown[] = JSON.parse(rest)
  const { priority, ...columns } = Object.fromEntries(
    CLAIMED_COLUMNS.map((column, index) => [column, values[index] ?? null]),
  ) as Omit<ClaimedRow, 'id' | 'payload'> & { priority: number | null }
  return {
    row: { id, payload, ...columns },
    plain: columns.concurrency_key === null && columns.throttle_key === null && priority === null,
  }
}

/** Whether the last run claimed through a Kysely instance had no flow control or priority. */
const lastClaimWasPlain = new WeakMap<Kysely<Database>, boolean>()

export async function claimNextSqliteRun(
  db: Kysely<Database>,
  request: ClaimRequest,
): Promise<ClaimedRow | null> {
  if (request.jobNames.length === 0) return null
  // The quick claim is tried while the runs claimed lately were plain, so a backlog behind
  // flow control or priorities does not pay for a miss before every claim.
  const claimed = await claimRun(db, request, lastClaimWasPlain.get(db) !== false)
  if (claimed) lastClaimWasPlain.set(db, claimed.plain)
  return claimed?.row ?? null
}

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
  let quickRow = tryQuick ? (await quickClaimStatement(db, values)).rows[0] : undefined
  if (!quickRow && tryQuick) {
    // Most quick misses find the queue empty (the worker caught up): a look costs a fraction
    // of planning the full claim.
    const due = (await dueRunStatement(db, values)).rows[0]
    if (!due) return null
    // A plain run due now that the quick claim missed was stored in between, typically by a
    // trigger in this process while the worker went idle: the quick claim takes it.
    if (due.plain) quickRow = (await quickClaimStatement(db, values)).rows[0]
  }
  const row = quickRow ?? (await claimStatement(db, values)).rows[0]
  if (!row) return null
  const claimed = claimedRow(row)
  await afterStart(db, claimed.row, request.now)
  return Object.assign({}, claimed, { quick: quickRow !== undefined })
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

/** A claim statement's shape: how many job names, whether staleness is judged, how many live owners. */
function claimShape(values: ClaimValues): string {
  return `${values.jobs}:${values.staleBefore === null}:${values.alive}`
}

/** No due run with a priority ranks later than this: the largest head start from now. */
function rankHorizon(now: RawBuilder<unknown>) {
  return sql`strftime('%Y-%m-%dT%H:%M:%fZ', ${now}, ${`+${MAX_PRIORITY} seconds`})`
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
const quickClaimStatement = compiledStatement<ClaimValues, CompactClaim>((db, slot, shape) => {
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
            AND claim_rank <= ${rankHorizon(now)})
      ${compactReturning}`.compile(db)
}, claimShape)

/**
 * After the quick claim took nothing: the pending run due first (none: nothing to claim),
 * and whether it is plain (the quick claim's kind). An abandoned run the quick claim passed
 * over means a ranked run is due, which is not plain.
 */
const dueRunStatement = compiledStatement<ClaimValues, { plain: number }>(
  (db, slot, shape) =>
    sql<{ plain: number }>`
      SELECT (priority IS NULL AND concurrency_key IS NULL AND throttle_key IS NULL) AS plain
      FROM durably_runs INDEXED BY durably_runs_claimable
      WHERE status = 'pending' AND available_at <= ${slot('now')}
        AND +job_name IN (${jobNameList(slot, shape)})
      ORDER BY available_at, id LIMIT 1`.compile(db),
  (values) => `${values.jobs}`,
)

/**
 * The claim, compiled once per shape: the number of job names, whether stale runs are looked
 * for at all (`staleBefore`), and whether (and among how many live owners) liveness is known.
 */
const claimStatement = compiledStatement<ClaimValues, CompactClaim>((db, slot, shape) => {
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
            ${ranked ? sql`AND candidate.claim_rank <= ${rankHorizon(now)}` : sql``}
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
}, claimShape)

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
