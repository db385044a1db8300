/**
 * Versioned schema, one definition for every family (types and the few non-portable
 * statements come from the family). Versions are recorded in `durably_schema_versions`;
 * applying is idempotent and runs under the family's migration lock, so two processes
 * migrating one database at once apply each version exactly once.
 */
import { type Kysely, sql } from 'kysely'
import type { SqlFamily } from './family.js'
import type { Database } from './schema.js'

interface Migration {
  version: number
  up(db: Kysely<Database>, family: SqlFamily): Promise<void>
}

/** Plain indexes of `durably_runs`, each serving a query named beside it. */
const RUN_INDEXES: readonly [string, string[]][] = [
  ['durably_runs_status_created', ['status', 'created_at', 'id']], // claim: oldest pending
  ['durably_runs_status_heartbeat', ['status', 'heartbeat_at']], // claim: abandoned runs
  ['durably_runs_job_created', ['job_name', 'created_at', 'id']], // getRuns by job
  ['durably_runs_created', ['created_at', 'id']], // getRuns, newest first
]

const migrations: Migration[] = [
  {
    version: 1,
    async up(db, family) {
      const { json, timestamp } = family.types
      // Steps and logs go with their run, in the way each family can.
      const runReference = family.runReference
      await db.schema
        .createTable('durably_runs')
        .ifNotExists()
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('job_name', 'text', (column) => column.notNull())
        .addColumn('payload', json, (column) => column.notNull())
        .addColumn('status', 'text', (column) => column.notNull())
        .addColumn('idempotency_key', 'text')
        .addColumn('concurrency_key', 'text')
        .addColumn('progress', json)
        .addColumn('output', json)
        .addColumn('error', 'text')
        .addColumn('lease_owner', 'text')
        .addColumn('lease_generation', 'integer', (column) => column.notNull().defaultTo(0))
        .addColumn('heartbeat_at', timestamp)
        .addColumn('started_at', timestamp)
        .addColumn('completed_at', timestamp)
        .addColumn('created_at', timestamp, (column) => column.notNull())
        .addColumn('updated_at', timestamp, (column) => column.notNull())
        .execute()
      // The claim reads pending runs oldest first and abandoned runs by heartbeat; getRuns
      // pages newest first by status or job. Terminal rows never enter a claim's range.
      for (const [name, columns] of RUN_INDEXES) {
        await db.schema
          .createIndex(name)
          .ifNotExists()
          .on('durably_runs')
          .columns(columns)
          .execute()
      }
      // Idempotency is the database's job: the insert meets this index and yields.
      await db.schema
        .createIndex('durably_runs_idempotency')
        .ifNotExists()
        .unique()
        .on('durably_runs')
        .columns(['job_name', 'idempotency_key'])
        .where(sql<boolean>`idempotency_key IS NOT NULL`)
        .execute()
      // At most one running run per concurrency key, whichever worker or process claims.
      await db.schema
        .createIndex('durably_runs_concurrency_running')
        .ifNotExists()
        .unique()
        .on('durably_runs')
        .column('concurrency_key')
        .where(sql<boolean>`status = 'running' AND concurrency_key IS NOT NULL`)
        .execute()

      await db.schema
        .createTable('durably_steps')
        .ifNotExists()
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('run_id', 'text', runReference)
        .addColumn('name', 'text', (column) => column.notNull())
        .addColumn('step_index', 'integer', (column) => column.notNull())
        .addColumn('status', 'text', (column) => column.notNull())
        .addColumn('output', json)
        .addColumn('error', 'text')
        .addColumn('started_at', timestamp, (column) => column.notNull())
        .addColumn('completed_at', timestamp, (column) => column.notNull())
        .execute()
      await db.schema
        .createIndex('durably_steps_run_index')
        .ifNotExists()
        .on('durably_steps')
        .columns(['run_id', 'step_index'])
        .execute()

      await db.schema
        .createTable('durably_logs')
        .ifNotExists()
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('run_id', 'text', runReference)
        .addColumn('step_name', 'text')
        .addColumn('level', 'text', (column) => column.notNull())
        .addColumn('message', 'text', (column) => column.notNull())
        .addColumn('data', json)
        .addColumn('created_at', timestamp, (column) => column.notNull())
        .execute()
      await db.schema
        .createIndex('durably_logs_run_created')
        .ifNotExists()
        .on('durably_logs')
        .columns(['run_id', 'created_at', 'id'])
        .execute()
    },
  },
]

/**
 * Version 2: waiting. A pending run carries the moment it becomes claimable and why it waits;
 * the claim takes due runs through a partial index in that order, so any number of sleeping
 * runs costs a claim nothing.
 */
migrations.push({
  version: 2,
  async up(db, family) {
    await family.addRunColumn(db, 'available_at', family.types.timestamp)
    await family.addRunColumn(db, 'wait_for', family.types.json)
    await db
      .updateTable('durably_runs')
      .set({ available_at: sql`created_at` })
      .where('available_at', 'is', null)
      .execute()
    await db.schema
      .createIndex('durably_runs_claimable')
      .ifNotExists()
      .on('durably_runs')
      .columns(['available_at', 'id'])
      .where(sql<boolean>`status = 'pending'`)
      .execute()
  },
})

/**
 * Version 3: waiting for the world. Events (and signals, addressed to one run) are stored
 * for waits that start later; a run waiting for an event carries the event's name and the
 * correlation of its `match`, indexed, so a send wakes exactly the matching runs. A child
 * run names its parent. The wake-ups themselves are triggers (see the families), so they
 * happen inside the statement that sends the event or finishes the child.
 */
migrations.push({
  version: 3,
  async up(db, family) {
    const { json, timestamp } = family.types
    await family.addRunColumn(db, 'wait_event', 'text')
    await family.addRunColumn(db, 'wait_correlation', 'text')
    await family.addRunColumn(db, 'parent_run_id', 'text')
    await db.schema
      .createIndex('durably_runs_event_waits')
      .ifNotExists()
      .on('durably_runs')
      .columns(['wait_event', 'wait_correlation'])
      // Not partial on status: SQLite's planner, without statistics, would rather walk the
      // status indexes; a wait's columns are cleared whenever the run stops waiting.
      .where(sql<boolean>`wait_event IS NOT NULL`)
      .execute()
    await db.schema
      .createIndex('durably_runs_parent')
      .ifNotExists()
      .on('durably_runs')
      .columns(['parent_run_id', 'created_at'])
      .where(sql<boolean>`parent_run_id IS NOT NULL`)
      .execute()
    await db.schema
      .createTable('durably_events')
      .ifNotExists()
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('name', 'text', (column) => column.notNull())
      .addColumn('data', json, (column) => column.notNull())
      .addColumn('target_run_id', 'text')
      .addColumn('created_at', timestamp, (column) => column.notNull())
      .execute()
    // A wait takes the oldest matching event since its run was created: by name, in order.
    await db.schema
      .createIndex('durably_events_name_created')
      .ifNotExists()
      .on('durably_events')
      .columns(['name', 'created_at', 'id'])
      .execute()
    await db.schema
      .createTable('durably_event_keys')
      .ifNotExists()
      .addColumn('event_name', 'text', (column) => column.notNull())
      .addColumn('keys', 'text', (column) => column.notNull())
      .addPrimaryKeyConstraint('durably_event_keys_pk', ['event_name', 'keys'])
      .execute()
  },
})

/**
 * Version 4: flow control, retries and traces. A run carries its concurrency limit and the
 * slot it holds while running (unique per key, so a limit holds whichever process claims),
 * its throttle and debounce keys, its priority and attempt count, and the trace context
 * captured when it was triggered. A run that cannot start because its key is full is
 * parked: `available_at` moves to the far future (`PARKED_AT`) and `parked_from` keeps where
 * it was, so claims never walk a blocked backlog; the run that frees a slot wakes it.
 */
migrations.push({
  version: 4,
  async up(db, family) {
    const { json, timestamp } = family.types
    await family.addRunColumn(db, 'priority', 'integer')
    await family.addRunColumn(db, 'concurrency_limit', 'integer')
    await family.addRunColumn(db, 'concurrency_slot', 'integer')
    await family.addRunColumn(db, 'parked_from', timestamp)
    await family.addRunColumn(db, 'throttle_key', 'text')
    await family.addRunColumn(db, 'throttle_limit', 'integer')
    await family.addRunColumn(db, 'throttle_period', 'integer')
    await family.addRunColumn(db, 'debounce_key', 'text')
    await family.addRunColumn(db, 'attempt', 'integer')
    await family.addRunColumn(db, 'trace_context', json)
    await db
      .updateTable('durably_runs')
      .set({ concurrency_slot: 0 })
      .where('concurrency_key', 'is not', null)
      .execute()
    // One running run per (key, slot) replaces one running run per key: limit 1 is slot 0.
    await db.schema.dropIndex('durably_runs_concurrency_running').ifExists().execute()
    await db.schema
      .createIndex('durably_runs_concurrency_slots')
      .ifNotExists()
      .unique()
      .on('durably_runs')
      .columns(['concurrency_key', 'concurrency_slot'])
      .where(sql<boolean>`status = 'running' AND concurrency_key IS NOT NULL`)
      .execute()
    // Pending runs of a key: what a claim that fills the key parks.
    await db.schema
      .createIndex('durably_runs_keyed')
      .ifNotExists()
      .on('durably_runs')
      .columns(['concurrency_key', 'available_at'])
      .where(sql<boolean>`status = 'pending' AND concurrency_key IS NOT NULL`)
      .execute()
    // Parked runs of a key, oldest first: what a freed slot wakes.
    await db.schema
      .createIndex('durably_runs_parked')
      .ifNotExists()
      .on('durably_runs')
      .columns(['concurrency_key', 'id'])
      .where(sql<boolean>`parked_from IS NOT NULL`)
      .execute()
    // Runs of a throttle key not started yet: what a start moves to the next free slot.
    await db.schema
      .createIndex('durably_runs_throttled')
      .ifNotExists()
      .on('durably_runs')
      .columns(['throttle_key', 'available_at', 'id'])
      .where(sql<boolean>`throttle_key IS NOT NULL AND status = 'pending' AND started_at IS NULL`)
      .execute()
    // At most one pending, never started run per debounce key: a trigger replaces its input.
    await db.schema
      .createIndex('durably_runs_debounce')
      .ifNotExists()
      .unique()
      .on('durably_runs')
      .column('debounce_key')
      .where(sql<boolean>`debounce_key IS NOT NULL AND status = 'pending' AND started_at IS NULL`)
      .execute()
    // A run's signals, found by its id when a purge removes the run.
    await db.schema
      .createIndex('durably_events_target')
      .ifNotExists()
      .on('durably_events')
      .column('target_run_id')
      .where(sql<boolean>`target_run_id IS NOT NULL`)
      .execute()
    // The last `limit` starts of each throttle key, as the moment each slot frees again.
    await db.schema
      .createTable('durably_throttle_slots')
      .ifNotExists()
      .addColumn('throttle_key', 'text', (column) => column.notNull())
      .addColumn('slot', 'integer', (column) => column.notNull())
      .addColumn('free_at', timestamp, (column) => column.notNull())
      .addPrimaryKeyConstraint('durably_throttle_slots_pk', ['throttle_key', 'slot'])
      .execute()
    // Which jobs some worker has registered lately (`blockedBy: 'no-worker'`).
    await db.schema
      .createTable('durably_workers')
      .ifNotExists()
      .addColumn('job_name', 'text', (column) => column.primaryKey())
      .addColumn('seen_at', timestamp, (column) => column.notNull())
      .execute()
    // Every attempt of a run or of a step with a retry policy, recorded before its body runs.
    await db.schema
      .createTable('durably_attempts')
      .ifNotExists()
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('run_id', 'text', family.runReference)
      .addColumn('step_index', 'integer')
      .addColumn('step_name', 'text')
      .addColumn('attempt', 'integer', (column) => column.notNull())
      .addColumn('error', 'text')
      .addColumn('started_at', timestamp, (column) => column.notNull())
      .addColumn('ended_at', timestamp)
      .execute()
    await db.schema
      .createIndex('durably_attempts_run')
      .ifNotExists()
      .on('durably_attempts')
      .columns(['run_id', 'step_index', 'attempt'])
      .execute()
  },
})

/**
 * Version 5: on PostgreSQL, a claim re-checks its run's concurrency key under the key's lock
 * and parks the run instead of starting it when the key filled after the claim chose it (see
 * postgres-flow.ts). SQLite needs nothing: its claims and parking are serialised by its one
 * writer.
 */
migrations.push({
  version: 5,
  async up() {},
})

/**
 * Version 6: on SQLite, the two triggers claims used to compile move to columns claims do
 * not set (a child's end wakes its parent on `completed_at`; a key that fills parks on
 * `concurrency_slot`, which only the full claim sets). SQLite compiles every trigger an
 * UPDATE could fire into the statement, and libSQL's client prepares every statement anew:
 * a plain claim prepared in about 100 µs with them, 60 without. PostgreSQL needs nothing.
 */
migrations.push({
  version: 6,
  async up() {},
})

/**
 * Version 7: on PostgreSQL, the function a claim takes its run from
 * (postgres-claim-candidate.ts), planned without bitmap scans, sorts or JIT, so that a claim
 * walks the claimable index however few rows the planner guesses. SQLite needs nothing: its
 * claim names its indexes.
 */
migrations.push({
  version: 7,
  async up() {},
})

export async function migrate(db: Kysely<Database>, family: SqlFamily): Promise<void> {
  await family.withMigrationLock(db, async (locked) => {
    await locked.schema
      .createTable('durably_schema_versions')
      .ifNotExists()
      .addColumn('version', 'integer', (column) => column.primaryKey())
      .addColumn('applied_at', family.types.timestamp, (column) => column.notNull())
      .execute()
    const applied = await locked.selectFrom('durably_schema_versions').select('version').execute()
    const done = new Set(applied.map((row) => Number(row.version)))
    for (const migration of migrations) {
      if (done.has(migration.version)) continue
      await migration.up(locked, family)
      await family.extraSchema(locked, migration.version)
      await locked
        .insertInto('durably_schema_versions')
        .values({ version: migration.version, applied_at: new Date().toISOString() })
        .onConflict((conflict) => conflict.column('version').doNothing())
        .execute()
    }
  })
}
