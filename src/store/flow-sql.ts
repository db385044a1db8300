/**
 * Flow control in SQL, the fragments both families share: whether a pending run may start
 * now (its concurrency key has a free slot, its throttle key a free start), and which slot
 * a starting run takes. The slot is what makes a limit hold across processes: running runs
 * are unique per (concurrency_key, concurrency_slot), and a slot is always below the limit.
 */
import { type RawBuilder, sql } from 'kysely'

/** Running runs sharing the key of `run` (the partial unique index over slots answers). */
function runningOfKey(run: string) {
  return sql`(SELECT COUNT(*) FROM durably_runs AS busy
    WHERE busy.status = 'running' AND busy.concurrency_key = ${sql.ref(`${run}.concurrency_key`)})`
}

/**
 * May the pending run `run` start at `now`? Its key below its limit, and (on its first start)
 * its throttle key with a start left in the period: `throttleTaken` counts the starts the
 * family keeps (SQLite counts started runs; PostgreSQL its slot table). Runs without either
 * pay two IS NULL tests.
 */
export function admissible(
  run: string,
  now: RawBuilder<unknown>,
  throttleTaken: (run: string, now: RawBuilder<unknown>) => RawBuilder<number>,
) {
  const ref = (column: string) => sql.ref(`${run}.${column}`)
  return sql<boolean>`(${ref('concurrency_key')} IS NULL
      OR ${runningOfKey(run)} < COALESCE(${ref('concurrency_limit')}, 1))
    AND (${ref('throttle_key')} IS NULL OR ${ref('started_at')} IS NOT NULL
      OR ${throttleTaken(run, now)} < ${ref('throttle_limit')})`
}

/**
 * The slot a run of table reference `run` takes when it starts running: the smallest one no
 * running run of its key holds. Always below the limit when `admissible` held, since the
 * running runs number fewer than the limit.
 */
export function freeSlot(run: string) {
  const key = sql.ref(`${run}.concurrency_key`)
  return sql<number>`CASE
    WHEN NOT EXISTS (SELECT 1 FROM durably_runs AS taken
      WHERE taken.status = 'running' AND taken.concurrency_key = ${key} AND taken.concurrency_slot = 0)
    THEN 0
    ELSE (SELECT MIN(busy.concurrency_slot) + 1 FROM durably_runs AS busy
      WHERE busy.status = 'running' AND busy.concurrency_key = ${key}
        AND NOT EXISTS (SELECT 1 FROM durably_runs AS taken
          WHERE taken.status = 'running' AND taken.concurrency_key = ${key}
            AND taken.concurrency_slot = busy.concurrency_slot + 1))
  END`
}

/**
 * A claim starts a new attempt for a run's first start, for a run whose body threw and
 * waited out its backoff (a `retry` wait without a step: a step's own backoff stays within
 * the attempt), and for the takeover of an abandoned run, whose attempt was cut short.
 * Resuming any other wait, or a run handed back by a stopping worker, continues the attempt.
 */
export function nextAttempt(
  run: string,
  wait: { kind: RawBuilder<string | null>; step: RawBuilder<string | null> },
) {
  const ref = (column: string) => sql.ref(`${run}.${column}`)
  return sql<number>`CASE
    WHEN ${ref('status')} = 'running' OR ${ref('attempt')} IS NULL
      OR (${wait.kind} = 'retry' AND ${wait.step} IS NULL)
    THEN COALESCE(${ref('attempt')}, 0) + 1
    ELSE ${ref('attempt')} END`
}
