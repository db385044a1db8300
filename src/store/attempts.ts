/**
 * Attempts of runs and of steps run with `retry` or `timeout`: the fenced write that begins
 * a step attempt (counting it), the writes that end attempts, and reading them back.
 *
 * A step attempt is recorded before its body runs, in one statement refused once the lease is
 * lost, so an attempt cut short by a crash still counts. Its number is counted since the
 * step was last recorded as failed: a retry of the run (or `retry()`) gives a failed step a
 * fresh set of attempts, while crashes, shutdowns and backoffs that release the run do not.
 *
 * The begin statement differs per family like `commitStep`'s; it lives here rather than in
 * the family files while those are being reworked for flow control (see the report of
 * issue 17) and is chosen by `family.name`.
 */
import { type Kysely, sql } from 'kysely'
import type { Attempt, Step } from '../types.js'
import type { SqlFamily } from './family.js'
import type { Database, DurablyAttemptsTable } from './schema.js'
import type { FailedRunAttempt, Lease, NewStepAttempt } from './store.js'

/** Attempts of this step since it was last recorded as failed; the next one's number. */
function nextStepAttempt(attempt: NewStepAttempt) {
  return sql<number>`(SELECT COALESCE(MAX(a.attempt), 0) + 1 FROM durably_attempts AS a
    WHERE a.run_id = ${attempt.runId} AND a.step_index = ${attempt.stepIndex}
      AND a.id > COALESCE((SELECT MAX(s.id) FROM durably_steps AS s
        WHERE s.run_id = ${attempt.runId} AND s.step_index = ${attempt.stepIndex}
          AND s.status = 'failed'), ''))`
}

/**
 * Record a step attempt under the lease; its number, or null when the lease is gone or the
 * next attempt would pass `limit` (nothing is written then).
 */
export async function beginStepAttempt(
  db: Kysely<Database>,
  family: SqlFamily,
  lease: Lease,
  attempt: NewStepAttempt,
): Promise<number | null> {
  const next = nextStepAttempt(attempt)
  const result =
    family.name === 'postgres'
      ? // The UPDATE locks the run row and re-checks the lease under that lock, so a claim
        // by another worker cannot slip between the check and the insert (as commitStep).
        await sql<{ attempt: number }>`
          WITH lease AS (
            UPDATE durably_runs SET updated_at = ${attempt.startedAt}::timestamptz
            WHERE id = ${lease.runId} AND status = 'running' AND lease_generation = ${lease.generation}
            RETURNING id
          ), next AS (SELECT ${next} AS attempt)
          INSERT INTO durably_attempts (id, run_id, step_index, step_name, attempt, error, started_at, ended_at)
          SELECT ${attempt.id}, lease.id, ${attempt.stepIndex}, ${attempt.stepName}, next.attempt,
                 NULL, ${attempt.startedAt}::timestamptz, NULL
          FROM lease, next WHERE next.attempt <= ${attempt.limit}
          RETURNING attempt`.execute(db)
      : // One statement: SQLite serialises writers, so nothing separates check and insert.
        await sql<{ attempt: number }>`
          INSERT INTO durably_attempts (id, run_id, step_index, step_name, attempt, error, started_at, ended_at)
          SELECT ${attempt.id}, ${attempt.runId}, ${attempt.stepIndex}, ${attempt.stepName},
                 next.attempt, NULL, ${attempt.startedAt}, NULL
          FROM (SELECT ${next} AS attempt) AS next
          WHERE next.attempt <= ${attempt.limit} AND EXISTS (
            SELECT 1 FROM durably_runs
            WHERE id = ${lease.runId} AND status = 'running' AND lease_generation = ${lease.generation})
          RETURNING attempt`.execute(db)
  const row = result.rows[0]
  return row ? Number(row.attempt) : null
}

/** An attempt ended: why it failed, or null when it succeeded. Its own row only. */
export async function endAttempt(
  db: Kysely<Database>,
  id: string,
  error: string | null,
  endedAt: string,
): Promise<void> {
  await db
    .updateTable('durably_attempts')
    .set({ error, ended_at: endedAt })
    .where('id', '=', id)
    .execute()
}

/** Keep a failed run attempt; a plain insert (the run's settle that follows is fenced). */
export async function recordRunAttempt(
  db: Kysely<Database>,
  attempt: FailedRunAttempt,
): Promise<void> {
  await db
    .insertInto('durably_attempts')
    .values({
      id: attempt.id,
      run_id: attempt.runId,
      step_index: null,
      step_name: null,
      attempt: attempt.attempt,
      error: attempt.error,
      started_at: attempt.startedAt,
      ended_at: attempt.endedAt,
    })
    .onConflict((conflict) => conflict.column('id').doNothing())
    .execute()
}

/** The run's attempts (step attempts, or the run's own with `stepIndex` null), oldest first. */
export async function readAttempts(
  db: Kysely<Database>,
  runId: string,
): Promise<DurablyAttemptsTable[]> {
  return db
    .selectFrom('durably_attempts')
    .selectAll()
    .where('run_id', '=', runId)
    .orderBy('id')
    .execute()
}

export function rowToAttempt(row: DurablyAttemptsTable, family: SqlFamily): Attempt {
  return {
    runId: row.run_id,
    stepIndex: row.step_index === null ? null : Number(row.step_index),
    stepName: row.step_name ?? null,
    attempt: Number(row.attempt),
    error: row.error ?? null,
    startedAt: family.readTime(row.started_at),
    endedAt: row.ended_at ? family.readTime(row.ended_at) : null,
  }
}

/**
 * Each step's attempts, in the order they began, by the step row they led to. A step index
 * has one row per time the step ended (failed, then completed after a retry of the run, say),
 * and its attempts restart from 1 after each failure: the k-th run of attempts from 1 belongs
 * to the k-th row. A successful attempt is not written again: it ended when its step completed.
 */
function attemptsByStep(
  steps: readonly Step[],
  rows: readonly DurablyAttemptsTable[],
  family: SqlFamily,
): { perStep: Map<Step, Attempt[]>; all: Attempt[] } {
  const all = rows.map((row) => rowToAttempt(row, family))
  const rounds = new Map<number, Attempt[][]>()
  for (const attempt of all) {
    if (attempt.stepIndex === null) continue
    const list = rounds.get(attempt.stepIndex) ?? []
    if (attempt.attempt === 1 || list.length === 0) list.push([])
    list[list.length - 1]!.push(attempt)
    rounds.set(attempt.stepIndex, list)
  }
  const perStep = new Map<Step, Attempt[]>()
  const taken = new Map<number, number>()
  for (const step of steps) {
    const k = taken.get(step.index) ?? 0
    taken.set(step.index, k + 1)
    const attempts = rounds.get(step.index)?.[k]
    if (!attempts) continue
    const last = attempts[attempts.length - 1]!
    if (step.status === 'completed' && last.endedAt === null && last.error === null) {
      last.endedAt = step.completedAt
    }
    perStep.set(step, attempts)
  }
  return { perStep, all }
}

/** Hang each step's attempts on it (see `attemptsByStep`). */
export function withAttempts(
  steps: Step[],
  rows: readonly DurablyAttemptsTable[],
  family: SqlFamily,
): Step[] {
  const { perStep } = attemptsByStep(steps, rows, family)
  return steps.map((step) => {
    const attempts = perStep.get(step)
    return attempts
      ? {
          ...step,
          attempts: attempts.map(({ attempt, error, startedAt, endedAt }) => ({
            attempt,
            error,
            startedAt,
            endedAt,
          })),
        }
      : step
  })
}

/** Every attempt of the run, oldest first, a successful one ending when its step did. */
export function listAttempts(
  steps: readonly Step[],
  rows: readonly DurablyAttemptsTable[],
  family: SqlFamily,
): Attempt[] {
  return attemptsByStep(steps, rows, family).all
}
