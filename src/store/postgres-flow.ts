/**
 * Flow control's bookkeeping on PostgreSQL, as triggers in the statement that causes them
 * (see sqlite-flow.ts for what each does). Many claimers run at once here, so:
 * - each trigger takes an advisory lock on its key first; every query after it reads a fresh
 *   snapshot, so a claim that fills a key and a run that frees it always see each other;
 * - rows another transaction holds are skipped (SKIP LOCKED), never waited for, so a holder
 *   of a key's lock never waits on a row lock and no deadlock can form;
 * - a throttled run's first start is decided in a BEFORE trigger under its key's lock: when
 *   every start slot is taken, the claim turns into a move to the next free slot (the row
 *   comes back `pending`, and the claimer looks again).
 * The concurrency limit itself needs no lock: running runs are unique per (key, slot).
 */
import { type Kysely, type RawBuilder, sql } from 'kysely'
import type { Database } from './schema.js'
import { NEVER } from './store.js'

// Advisory lock classes (first key of the two-key form), beside the event and run classes.
const CONCURRENCY_LOCK_CLASS = 72_433
const THROTTLE_LOCK_CLASS = 72_434

/** A run's `WaitingFor` while its throttle key's starts are used up until `next_free`. */
const throttleWait = sql.raw(`json_build_object('kind', 'throttle', 'key', NEW.throttle_key,
  'until', to_char(next_free AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))`)

/** Takes the advisory lock of a concurrency key (PL/pgSQL). */
const lockKey = (key: string) =>
  sql.raw(`PERFORM pg_advisory_xact_lock(${CONCURRENCY_LOCK_CLASS}, hashtext(${key}));`)

/** A trigger's condition: the update is a claim starting a run with a concurrency key. */
const claimsKeyedRun = sql.raw(
  `NEW.status = 'running' AND OLD.status = 'pending' AND NEW.concurrency_key IS NOT NULL`,
)

/**
 * Turns a claim back in a BEFORE trigger (PL/pgSQL): the run stays pending as it was, its
 * lease and attempt untouched; the caller says where it waits.
 */
const undoClaim = sql.raw(`NEW.status := 'pending';
        NEW.lease_owner := NULL;
        NEW.lease_generation := OLD.lease_generation;
        NEW.heartbeat_at := OLD.heartbeat_at;
        NEW.started_at := OLD.started_at;
        NEW.attempt := OLD.attempt;
        NEW.concurrency_slot := OLD.concurrency_slot;`)

/** How many runs of a concurrency key are running (PL/pgSQL). */
const running = (key: string) =>
  sql.raw(`(SELECT COUNT(*) FROM durably_runs AS busy
    WHERE busy.status = 'running' AND busy.concurrency_key = ${key})`)

export async function postgresFlowSchema(db: Kysely<Database>): Promise<void> {
  await sql`ALTER TABLE durably_runs ADD COLUMN IF NOT EXISTS claim_rank timestamptz`.execute(db)
  // BEFORE triggers fire in name order: the rank is computed last (the z_), after a throttle
  // may have moved the run.
  await sql`
    CREATE OR REPLACE FUNCTION durably_claim_rank() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      NEW.claim_rank := CASE WHEN NEW.priority IS NULL THEN NULL
        ELSE NEW.available_at - make_interval(secs => NEW.priority) END;
      RETURN NEW;
    END
    $$`.execute(db)
  await sql`
    CREATE OR REPLACE TRIGGER durably_runs_z_claim_rank
    BEFORE INSERT OR UPDATE OF available_at, priority ON durably_runs
    FOR EACH ROW WHEN (NEW.priority IS NOT NULL) EXECUTE FUNCTION durably_claim_rank()`.execute(db)
  await sql`CREATE INDEX IF NOT EXISTS durably_runs_ranked ON durably_runs (claim_rank, id)
    WHERE status = 'pending' AND priority IS NOT NULL`.execute(db)

  const never = sql.lit(NEVER)

  await sql`
    CREATE OR REPLACE FUNCTION durably_key_filled() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      ${lockKey('NEW.concurrency_key')}
      IF ${running('NEW.concurrency_key')} >= COALESCE(NEW.concurrency_limit, 1) THEN
        UPDATE durably_runs SET parked_from = available_at, available_at = ${never}::timestamptz
        WHERE id IN (SELECT waiting.id FROM durably_runs AS waiting
          WHERE waiting.concurrency_key = NEW.concurrency_key AND waiting.status = 'pending'
            AND waiting.available_at <= NEW.updated_at AND waiting.parked_from IS NULL
            AND waiting.id <> NEW.id
          FOR UPDATE SKIP LOCKED);
      END IF;
      RETURN NULL;
    END
    $$`.execute(db)
  await sql`
    CREATE OR REPLACE TRIGGER durably_runs_key_filled AFTER UPDATE OF status ON durably_runs
    FOR EACH ROW WHEN (${claimsKeyedRun}) EXECUTE FUNCTION durably_key_filled()`.execute(db)

  await sql`
    CREATE OR REPLACE FUNCTION durably_key_full_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      ${lockKey('NEW.concurrency_key')}
      IF ${running('NEW.concurrency_key')} >= COALESCE(NEW.concurrency_limit, 1) THEN
        UPDATE durably_runs SET parked_from = available_at, available_at = ${never}::timestamptz
        WHERE id = NEW.id;
      END IF;
      RETURN NULL;
    END
    $$`.execute(db)
  await sql`
    CREATE OR REPLACE TRIGGER durably_runs_key_full_insert AFTER INSERT ON durably_runs
    FOR EACH ROW WHEN (NEW.concurrency_key IS NOT NULL AND NEW.available_at <= NEW.created_at)
    EXECUTE FUNCTION durably_key_full_insert()`.execute(db)

  await sql`
    CREATE OR REPLACE FUNCTION durably_key_freed() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      ${lockKey('OLD.concurrency_key')}
      UPDATE durably_runs SET available_at = parked_from, parked_from = NULL
      WHERE id IN (SELECT waiting.id FROM durably_runs AS waiting
        WHERE waiting.concurrency_key = OLD.concurrency_key AND waiting.parked_from IS NOT NULL
          AND waiting.status = 'pending'
        ORDER BY waiting.id
        LIMIT GREATEST(0, COALESCE(OLD.concurrency_limit, 1) - ${running('OLD.concurrency_key')})
        FOR UPDATE SKIP LOCKED);
      RETURN NULL;
    END
    $$`.execute(db)
  await sql`
    CREATE OR REPLACE TRIGGER durably_runs_key_freed AFTER UPDATE OF status ON durably_runs
    FOR EACH ROW WHEN (OLD.status = 'running' AND NEW.status <> 'running'
      AND OLD.concurrency_key IS NOT NULL)
    EXECUTE FUNCTION durably_key_freed()`.execute(db)

  await sql`
    CREATE OR REPLACE FUNCTION durably_throttle_start() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
      taken integer;
      held integer;
      next_free timestamptz;
      chosen integer;
    BEGIN
      PERFORM pg_advisory_xact_lock(${sql.lit(THROTTLE_LOCK_CLASS)}, hashtext(NEW.throttle_key));
      SELECT COUNT(*) FILTER (WHERE free_at > NEW.started_at), COUNT(*), MIN(free_at)
        INTO taken, held, next_free
        FROM durably_throttle_slots WHERE throttle_key = NEW.throttle_key;
      IF taken >= NEW.throttle_limit THEN
        -- Every start slot is taken: this claim becomes a move to the next free one.
        ${undoClaim}
        NEW.available_at := next_free;
        NEW.wait_for := ${throttleWait};
        RETURN NEW;
      END IF;
      IF held < NEW.throttle_limit THEN
        chosen := held;
      ELSE
        SELECT slot INTO chosen FROM durably_throttle_slots
          WHERE throttle_key = NEW.throttle_key ORDER BY free_at, slot LIMIT 1;
      END IF;
      INSERT INTO durably_throttle_slots (throttle_key, slot, free_at)
      VALUES (NEW.throttle_key, chosen,
              NEW.started_at + make_interval(secs => NEW.throttle_period / 1000.0))
      ON CONFLICT (throttle_key, slot) DO UPDATE SET free_at = EXCLUDED.free_at;
      IF taken + 1 >= NEW.throttle_limit THEN
        SELECT MIN(free_at) INTO next_free FROM durably_throttle_slots
          WHERE throttle_key = NEW.throttle_key;
        UPDATE durably_runs
        SET available_at = next_free,
            wait_for = ${throttleWait}
        WHERE id IN (SELECT waiting.id FROM durably_runs AS waiting
          WHERE waiting.throttle_key = NEW.throttle_key AND waiting.status = 'pending'
            AND waiting.started_at IS NULL AND waiting.available_at < next_free
            AND waiting.id <> NEW.id
          FOR UPDATE SKIP LOCKED);
      END IF;
      RETURN NEW;
    END
    $$`.execute(db)
  await sql`
    CREATE OR REPLACE TRIGGER durably_runs_throttle_start BEFORE UPDATE OF status ON durably_runs
    FOR EACH ROW WHEN (NEW.status = 'running' AND OLD.status = 'pending'
      AND OLD.started_at IS NULL AND NEW.throttle_key IS NOT NULL)
    EXECUTE FUNCTION durably_throttle_start()`.execute(db)

  await sql`
    CREATE OR REPLACE FUNCTION durably_throttle_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
      taken integer;
      next_free timestamptz;
    BEGIN
      PERFORM pg_advisory_xact_lock(${sql.lit(THROTTLE_LOCK_CLASS)}, hashtext(NEW.throttle_key));
      SELECT COUNT(*) FILTER (WHERE free_at > NEW.created_at), MIN(free_at)
        INTO taken, next_free
        FROM durably_throttle_slots WHERE throttle_key = NEW.throttle_key;
      IF taken >= NEW.throttle_limit AND NEW.available_at < next_free THEN
        NEW.available_at := next_free;
        NEW.wait_for := ${throttleWait};
      END IF;
      RETURN NEW;
    END
    $$`.execute(db)
  await sql`
    CREATE OR REPLACE TRIGGER durably_runs_throttle_insert BEFORE INSERT ON durably_runs
    FOR EACH ROW WHEN (NEW.throttle_key IS NOT NULL) EXECUTE FUNCTION durably_throttle_insert()`.execute(
    db,
  )
}

/**
 * A claim chooses its run, and locks it, in its own snapshot: the run's key may fill in
 * between (another claim committing), and the parking that claim's trigger does skips the row
 * this claim holds. That run would then stay unparked, claimable only once a slot frees and
 * ahead of runs parked before it. So a claim re-checks its run's key under the key's lock, in
 * a fresh snapshot, before it starts the run: when the key is full the claim parks the run
 * instead (it comes back `pending`, and the claimer looks again). Named so that it fires
 * before the throttle's BEFORE trigger: a parked run takes no throttle start.
 */
export async function postgresKeyAdmission(db: Kysely<Database>): Promise<void> {
  await sql`
    CREATE OR REPLACE FUNCTION durably_key_admit() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      ${lockKey('NEW.concurrency_key')}
      IF ${running('NEW.concurrency_key')} >= COALESCE(NEW.concurrency_limit, 1) THEN
        ${undoClaim}
        NEW.parked_from := OLD.available_at;
        NEW.available_at := ${sql.lit(NEVER)}::timestamptz;
      END IF;
      RETURN NEW;
    END
    $$`.execute(db)
  await sql`
    CREATE OR REPLACE TRIGGER durably_runs_key_admit BEFORE UPDATE OF status ON durably_runs
    FOR EACH ROW WHEN (${claimsKeyedRun}) EXECUTE FUNCTION durably_key_admit()`.execute(db)
}

/** Start slots of the throttle key of `run` still taken at `now` (the claim's check). */
export function postgresThrottleTaken(run: string, now: RawBuilder<unknown>) {
  return sql<number>`(SELECT COUNT(*) FROM durably_throttle_slots AS slot
    WHERE slot.throttle_key = ${sql.ref(`${run}.throttle_key`)} AND slot.free_at > ${now})`
}
