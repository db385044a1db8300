/**
 * Flow control's bookkeeping on SQLite. SQLite compiles every trigger an UPDATE could fire
 * into that statement, and our drivers prepare each statement anew, so a trigger on `status`
 * would cost every claim and every completion, flow control or not. So:
 * - the one trigger that must be atomic, waking parked runs when a run leaves `running`,
 *   fires on `concurrency_limit`, which only the writes ending a keyed run set (to itself);
 * - the throttle needs no bookkeeping: a run's first start is its `started_at`, so the claim
 *   counts its key's starts in the period (index below) in the statement that starts it;
 * - a claim that fills a key parks its other due runs in a trigger on `concurrency_slot`,
 *   which only the full claim sets (the quick claim takes no keyed run), so plain claims do
 *   not compile it;
 * - parking after an insert, and moving runs behind a used-up throttle, are follow-up
 *   statements for keyed or throttled runs only: they spare later claims work (the claim
 *   itself checks every limit), so they need not be atomic. SQLite serialises writers: a
 *   park sees every earlier release, and any later release wakes what it parked.
 */
import { type Kysely, type RawBuilder, sql } from 'kysely'
import { pause } from '../retry.js'
import type { ClaimedRow, Database, RunRow } from './schema.js'
import { isSqliteBusy } from './sqlite-busy.js'
import { NEVER } from './store.js'

const ISO = `'%Y-%m-%dT%H:%M:%fZ'`

export async function sqliteFlowSchema(db: Kysely<Database>): Promise<void> {
  // A virtual column: computed when read or indexed, never stored, so only the partial
  // index of runs that have a priority holds it.
  try {
    await sql`ALTER TABLE durably_runs ADD COLUMN claim_rank TEXT GENERATED ALWAYS AS (
      CASE WHEN priority IS NULL OR available_at >= ${sql.lit(NEVER)} THEN available_at
      ELSE strftime(${sql.raw(ISO)}, available_at, printf('%+d seconds', -priority)) END) VIRTUAL`.execute(
      db,
    )
  } catch (error) {
    if (!/duplicate column/i.test((error as Error)?.message ?? '')) throw error
  }
  await sql`CREATE INDEX IF NOT EXISTS durably_runs_ranked ON durably_runs (claim_rank, id)
    WHERE status = 'pending' AND priority IS NOT NULL`.execute(db)
  // A throttle key's first starts, newest last: what the claim counts within a period.
  await sql`CREATE INDEX IF NOT EXISTS durably_runs_throttle_starts
    ON durably_runs (throttle_key, started_at)
    WHERE throttle_key IS NOT NULL AND started_at IS NOT NULL`.execute(db)

  await sql`CREATE TRIGGER IF NOT EXISTS durably_runs_key_freed
    AFTER UPDATE OF concurrency_limit ON durably_runs
    WHEN OLD.status = 'running' AND NEW.status <> 'running' AND OLD.concurrency_key IS NOT NULL
    BEGIN
      UPDATE durably_runs SET available_at = parked_from, parked_from = NULL
      WHERE id IN (SELECT waiting.id FROM durably_runs AS waiting
        WHERE waiting.concurrency_key = OLD.concurrency_key AND waiting.parked_from IS NOT NULL
        ORDER BY waiting.id
        LIMIT MAX(0, COALESCE(OLD.concurrency_limit, 1) - (SELECT COUNT(*) FROM durably_runs AS busy
          WHERE busy.status = 'running' AND busy.concurrency_key = OLD.concurrency_key)));
    END`.execute(db)
}

/**
 * Parking right where a key fills, in the claim's own statement, whatever else the database
 * is doing. Only the full claim sets `concurrency_slot`, so only it compiles this trigger
 * (schema version 6; version 4 had `durably_runs_key_filled` on `lease_generation`, which
 * every claim sets).
 */
export async function sqliteSlotTakenTrigger(db: Kysely<Database>): Promise<void> {
  await sql`CREATE TRIGGER IF NOT EXISTS durably_runs_slot_taken
    AFTER UPDATE OF concurrency_slot ON durably_runs
    WHEN NEW.status = 'running' AND OLD.status = 'pending' AND NEW.concurrency_key IS NOT NULL
    BEGIN
      ${parkStatement(
        sql.raw('NEW.concurrency_key'),
        sql.raw('COALESCE(NEW.concurrency_limit, 1)'),
        sql.raw('NEW.updated_at'),
      )};
    END`.execute(db)
}

/** First starts of the throttle key of `run` within its period before `now` (the claim's check). */
export function sqliteThrottleTaken(run: string, now: unknown) {
  const ref = (column: string) => sql.ref(`${run}.${column}`)
  return sql<number>`(SELECT COUNT(*) FROM durably_runs AS started
    WHERE started.throttle_key = ${ref('throttle_key')} AND started.started_at IS NOT NULL
      AND started.started_at > strftime(${sql.raw(ISO)}, ${now},
        printf('-%.3f seconds', ${ref('throttle_period')} / 1000.0)))`
}

/**
 * Park the due runs of `key` if its running runs reach `limit`: one statement for the claim's
 * trigger (NEW's columns) and for the follow-up after an insert (bound values).
 */
function parkStatement(
  key: RawBuilder<unknown>,
  limit: RawBuilder<unknown>,
  now: RawBuilder<unknown>,
) {
  return sql`UPDATE durably_runs SET parked_from = available_at, available_at = ${sql.lit(NEVER)}
    WHERE concurrency_key = ${key} AND status = 'pending' AND parked_from IS NULL
      AND available_at <= ${now}
      AND (SELECT COUNT(*) FROM durably_runs AS busy
           WHERE busy.status = 'running' AND busy.concurrency_key = ${key}) >= ${limit}`
}

/** A keyed run's key is full: park its other due runs, so claims stop walking them. */
export async function parkBehindFullKey(
  db: Kysely<Database>,
  key: string,
  limit: number | null,
  now: string,
): Promise<void> {
  await parkStatement(sql`${key}`, sql`${limit ?? 1}`, sql`${now}`).execute(db)
}

/**
 * A throttled run started, or was stored: if its key's starts in the period are used up,
 * move the key's due, unstarted runs to the moment the oldest of those starts leaves the
 * period, so claims stop walking them until then.
 */
export async function moveThrottled(
  db: Kysely<Database>,
  throttle: { key: string; limit: number; period: number },
  now: string,
): Promise<void> {
  const result = await sql<{ next: string | null }>`
    SELECT strftime(${sql.raw(ISO)}, started_at, printf('+%.3f seconds', ${throttle.period} / 1000.0)) AS next
    FROM durably_runs
    WHERE throttle_key = ${throttle.key} AND started_at IS NOT NULL
    ORDER BY started_at DESC LIMIT 1 OFFSET ${throttle.limit - 1}`.execute(db)
  const next = result.rows[0]?.next
  if (!next || next <= now) return
  const waitingFor = JSON.stringify({ kind: 'throttle', key: throttle.key, until: next })
  await sql`UPDATE durably_runs SET available_at = ${next}, wait_for = ${waitingFor}
    WHERE throttle_key = ${throttle.key} AND status = 'pending' AND started_at IS NULL
      AND available_at < ${next}`.execute(db)
}

/**
 * After a first start of a throttled run: move the key's waiting runs if its starts are used
 * up (a full concurrency key parks in the claim's own trigger). Bookkeeping only (the claim
 * checked the limits), so a failure here must not undo the claim: the worker would drop a
 * run it holds.
 */
export async function afterStart(
  db: Kysely<Database>,
  run: ClaimedRow,
  now: string,
): Promise<void> {
  if (run.throttle_key === null || run.started_at !== now) return
  await patiently(() => moveThrottled(db, throttleOf(run), now))
}

/** Parking after an insert: runs stored behind a full key or a used-up throttle. */
export async function afterInsert(db: Kysely<Database>, runs: readonly RunRow[], now: string) {
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
      if (!isSqliteBusy(error)) return
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
