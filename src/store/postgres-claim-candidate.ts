/**
 * The run a PostgreSQL claim takes, and the concurrency slot it takes with it: an abandoned
 * run first, else the better ranked of the first pending run it may take in due order (no
 * priority) and in rank order (with one), each locked by its walk (FOR UPDATE SKIP LOCKED)
 * as the claim's CTEs locked them before. It is chosen by a function,
 * `durably_claim_candidate`, because only a function can plan its statements with bitmap
 * scans and sorts turned off without touching the settings of the connections it shares.
 *
 * Asked for the first run in an order, the planner may walk the index in that order and stop
 * at the first row that passes, or collect every row in range (a bitmap of the index) and
 * sort them. It chooses by its guess of how many rows there are; on a table never analyzed
 * (a new installation's, until autovacuum reaches it) or analyzed before a backlog arrived,
 * it guesses a handful, and for a few thousand pending runs it chose the bitmap: each claim
 * then read and sorted every pending run (2.7 ms a claim beside 8,000 against 0.4). Inside
 * the function the walk is the only plan left. What remains of the claim statement (the
 * UPDATE of one row by id) costs the same whatever its values, so PostgreSQL keeps one
 * generic plan of it instead of planning each claim anew.
 * tests/store/postgres-claim-plan.test.ts explains these statements with the function's
 * settings.
 *
 * The function's statements are built here from the same SQL as the claim's filters
 * (flow-sql.ts); a change to them is a new schema version that replaces the function.
 */
import { type Kysely, type RawBuilder, sql } from 'kysely'
import { MAX_PRIORITY } from '../flow.js'
import { admissible, freeSlot } from './flow-sql.js'
import { postgresThrottleTaken } from './postgres-flow.js'
import type { Database } from './schema.js'

/**
 * The function's settings: without bitmap scans and sorts, the planner has nothing but the
 * walk left; a plan it still could not make without one would be priced at a billion, and
 * without `jit` off such a price would have each claim compiled to machine code first
 * (about half a second).
 */
export const CANDIDATE_SETTINGS = {
  enable_bitmapscan: 'off',
  enable_sort: 'off',
  jit: 'off',
} as const

/**
 * A filter hidden from the planner's estimates. Taken in the open, each filter on the
 * candidates (job name, priority, admissibility) counted for a fraction of a percent of rows,
 * so the planner expected no pending run to pass and collected them all (the claimable index
 * ANDed with the job-name index) to sort them: 14 ms a claim at 20,000 pending runs. Inside a
 * CASE a filter counts for one half and no index serves it.
 */
function opaque(condition: RawBuilder<unknown>) {
  return sql`CASE WHEN ${condition} THEN true ELSE false END`
}

interface CandidateInputs {
  /** A `text[]` of the job names the claim serves. */
  jobNames: RawBuilder<unknown>
  /** The claim's `timestamptz`: what is due is judged by it. */
  now: RawBuilder<unknown>
  /** How old a heartbeat makes a running run abandoned (seconds, judged by `now()`). */
  staleSeconds: RawBuilder<unknown>
  /** A run not to recover as abandoned (the one a completion ends in the same statement), or NULL. */
  excluded: RawBuilder<unknown>
}

/** The candidates' statements: the abandoned run, and the two pending heads. */
export function candidateStatements({ jobNames, now, staleSeconds, excluded }: CandidateInputs) {
  const mayStart = admissible('candidate', now, postgresThrottleTaken)
  // The slot a keyed run takes is chosen in the statement that found it may start: in the
  // same view of the running runs, the smallest free slot is below the limit. (Each statement
  // of a function sees the database anew; a slot chosen in a later view could pass the limit,
  // a run of the key having started in between.)
  const slot = sql`CASE WHEN candidate.concurrency_key IS NULL THEN NULL
      ELSE ${freeSlot('candidate')} END`
  return {
    // A run taken over keeps its slot.
    abandoned: sql`SELECT candidate.id, candidate.concurrency_slot AS slot FROM durably_runs AS candidate
      WHERE candidate.status = 'running'
        AND candidate.heartbeat_at < now() - make_interval(secs => ${staleSeconds})
        AND candidate.job_name = ANY(${jobNames}) AND candidate.id IS DISTINCT FROM ${excluded}
      ORDER BY candidate.heartbeat_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
    plain: sql`SELECT candidate.id, candidate.available_at AS rank, ${slot} AS slot
      FROM durably_runs AS candidate
      WHERE candidate.status = 'pending' AND candidate.available_at <= ${now}
        AND ${opaque(sql`candidate.job_name = ANY(${jobNames}) AND candidate.priority IS NULL AND ${mayStart}`)}
      ORDER BY candidate.available_at, candidate.id LIMIT 1 FOR UPDATE SKIP LOCKED`,
    // Read up to now plus the largest head start: no due run ranks later.
    ranked: sql`SELECT candidate.id, candidate.claim_rank AS rank, ${slot} AS slot
      FROM durably_runs AS candidate
      WHERE candidate.status = 'pending' AND candidate.priority IS NOT NULL
        AND candidate.claim_rank <= ${now} + make_interval(secs => ${sql.lit(MAX_PRIORITY)})
        AND candidate.available_at <= ${now}
        AND ${opaque(sql`candidate.job_name = ANY(${jobNames}) AND ${mayStart}`)}
      ORDER BY candidate.claim_rank, candidate.id LIMIT 1 FOR UPDATE SKIP LOCKED`,
  }
}

/**
 * Create (or replace) `durably_claim_candidate(job_names text[], claim_now timestamptz,
 * stale_seconds float8, excluded text)`: the run to claim and the concurrency slot it takes
 * (its own if it is running already, none without a key), or no row.
 */
export async function claimCandidateFunction(db: Kysely<Database>): Promise<void> {
  const statements = candidateStatements({
    jobNames: sql.raw('job_names'),
    now: sql.raw('claim_now'),
    staleSeconds: sql.raw('stale_seconds'),
    excluded: sql.raw('excluded'),
  })
  const text = (statement: RawBuilder<unknown>) => {
    const compiled = statement.compile(db)
    // The body is text: a value bound as a parameter would have nowhere to go.
    if (compiled.parameters.length > 0)
      throw new Error('claim candidate: a bound value in the body')
    return sql.raw(compiled.sql)
  }
  const settings = Object.entries(CANDIDATE_SETTINGS)
    .map(([name, value]) => `SET ${name} = ${value}`)
    .join(' ')
  await sql`
    CREATE OR REPLACE FUNCTION durably_claim_candidate(
      job_names text[], claim_now timestamptz, stale_seconds float8, excluded text)
    RETURNS TABLE (candidate_id text, candidate_slot integer)
    LANGUAGE plpgsql VOLATILE ROWS 1 ${sql.raw(settings)}
    AS $$
    DECLARE
      plain_id text;
      plain_rank timestamptz;
      plain_slot integer;
      ranked_id text;
      ranked_rank timestamptz;
      ranked_slot integer;
    BEGIN
      -- A stale run is recovered before a new one starts.
      SELECT abandoned.id, abandoned.slot INTO candidate_id, candidate_slot
        FROM (${text(statements.abandoned)}) AS abandoned;
      IF candidate_id IS NOT NULL THEN
        RETURN NEXT;
        RETURN;
      END IF;
      -- Of the heads, each locked by its own walk, the better ranked (compared here: a sort
      -- would cost its disabled price).
      SELECT head.id, head.rank, head.slot INTO plain_id, plain_rank, plain_slot
        FROM (${text(statements.plain)}) AS head;
      SELECT head.id, head.rank, head.slot INTO ranked_id, ranked_rank, ranked_slot
        FROM (${text(statements.ranked)}) AS head;
      IF ranked_id IS NOT NULL
        AND (plain_id IS NULL OR (ranked_rank, ranked_id) < (plain_rank, plain_id)) THEN
        candidate_id := ranked_id;
        candidate_slot := ranked_slot;
      ELSIF plain_id IS NOT NULL THEN
        candidate_id := plain_id;
        candidate_slot := plain_slot;
      ELSE
        RETURN;
      END IF;
      RETURN NEXT;
    END
    $$`.execute(db)
}
