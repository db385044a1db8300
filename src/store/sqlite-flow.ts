/**
 * Flow control's bookkeeping on SQLite, as triggers, so it happens inside the statement that
 * causes it (SQLite serialises writers, so each trigger sees every earlier commit):
 * - a claim that fills a concurrency key parks the key's other due runs, and a run inserted
 *   while its key is full is parked at once: `available_at` moves past every real time
 *   (`NEVER`, as for a wait without a deadline) and `parked_from` keeps it, so claims never walk a blocked backlog;
 * - a run leaving `running` wakes as many parked runs of its key as there are free slots;
 * - a throttled run's first start takes the oldest of its key's `limit` start slots, and
 *   once they are all taken the key's other due runs move to the moment the next one frees.
 * Parking only spares the claim work: the claim itself checks every limit (flow-sql.ts).
 */
import { type Kysely, sql } from 'kysely'
import type { Database } from './schema.js'
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

  const running = (key: string) =>
    sql.raw(`(SELECT COUNT(*) FROM durably_runs AS busy
      WHERE busy.status = 'running' AND busy.concurrency_key = ${key})`)
  const parked = sql.lit(NEVER)

  await sql`CREATE TRIGGER IF NOT EXISTS durably_runs_key_filled
    AFTER UPDATE OF status ON durably_runs
    WHEN NEW.status = 'running' AND OLD.status = 'pending' AND NEW.concurrency_key IS NOT NULL
      AND ${running('NEW.concurrency_key')} >= COALESCE(NEW.concurrency_limit, 1)
    BEGIN
      UPDATE durably_runs SET parked_from = available_at, available_at = ${parked}
      WHERE concurrency_key = NEW.concurrency_key AND status = 'pending'
        AND available_at <= NEW.updated_at AND parked_from IS NULL;
    END`.execute(db)

  await sql`CREATE TRIGGER IF NOT EXISTS durably_runs_key_full_insert
    AFTER INSERT ON durably_runs
    WHEN NEW.concurrency_key IS NOT NULL AND NEW.available_at <= NEW.created_at
      AND ${running('NEW.concurrency_key')} >= COALESCE(NEW.concurrency_limit, 1)
    BEGIN
      UPDATE durably_runs SET parked_from = available_at, available_at = ${parked}
      WHERE id = NEW.id;
    END`.execute(db)

  await sql`CREATE TRIGGER IF NOT EXISTS durably_runs_key_freed
    AFTER UPDATE OF status ON durably_runs
    WHEN OLD.status = 'running' AND NEW.status <> 'running' AND OLD.concurrency_key IS NOT NULL
    BEGIN
      UPDATE durably_runs SET available_at = parked_from, parked_from = NULL
      WHERE id IN (SELECT waiting.id FROM durably_runs AS waiting
        WHERE waiting.concurrency_key = OLD.concurrency_key AND waiting.parked_from IS NOT NULL
        ORDER BY waiting.id
        LIMIT MAX(0, COALESCE(OLD.concurrency_limit, 1) - ${running('OLD.concurrency_key')}));
    END`.execute(db)

  const slots = (key: string) =>
    sql.raw(`(SELECT COUNT(*) FROM durably_throttle_slots WHERE throttle_key = ${key})`)
  const nextFree = (key: string) =>
    sql.raw(`(SELECT MIN(free_at) FROM durably_throttle_slots WHERE throttle_key = ${key})`)
  const taken = (key: string, at: string) =>
    sql.raw(`(SELECT COUNT(*) FROM durably_throttle_slots
      WHERE throttle_key = ${key} AND free_at > ${at})`)

  await sql`CREATE TRIGGER IF NOT EXISTS durably_runs_throttle_start
    AFTER UPDATE OF status ON durably_runs
    WHEN NEW.status = 'running' AND OLD.status = 'pending' AND OLD.started_at IS NULL
      AND NEW.throttle_key IS NOT NULL
    BEGIN
      INSERT OR REPLACE INTO durably_throttle_slots (throttle_key, slot, free_at)
      VALUES (NEW.throttle_key,
        CASE WHEN ${slots('NEW.throttle_key')} < NEW.throttle_limit THEN ${slots('NEW.throttle_key')}
        ELSE (SELECT slot FROM durably_throttle_slots WHERE throttle_key = NEW.throttle_key
              ORDER BY free_at, slot LIMIT 1) END,
        strftime(${sql.raw(ISO)}, NEW.started_at, printf('+%.3f seconds', NEW.throttle_period / 1000.0)));
      UPDATE durably_runs
      SET available_at = ${nextFree('NEW.throttle_key')},
          wait_for = json_object('kind', 'throttle', 'key', NEW.throttle_key,
                                 'until', ${nextFree('NEW.throttle_key')})
      WHERE throttle_key = NEW.throttle_key AND status = 'pending' AND started_at IS NULL
        AND available_at < ${nextFree('NEW.throttle_key')}
        AND ${taken('NEW.throttle_key', 'NEW.started_at')} >= NEW.throttle_limit;
    END`.execute(db)

  await sql`CREATE TRIGGER IF NOT EXISTS durably_runs_throttle_insert
    AFTER INSERT ON durably_runs
    WHEN NEW.throttle_key IS NOT NULL
      AND ${taken('NEW.throttle_key', 'NEW.created_at')} >= NEW.throttle_limit
      AND NEW.available_at < ${nextFree('NEW.throttle_key')}
    BEGIN
      UPDATE durably_runs
      SET available_at = ${nextFree('NEW.throttle_key')},
          wait_for = json_object('kind', 'throttle', 'key', NEW.throttle_key,
                                 'until', ${nextFree('NEW.throttle_key')})
      WHERE id = NEW.id;
    END`.execute(db)
}
