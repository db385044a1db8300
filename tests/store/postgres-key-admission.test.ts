/**
 * On PostgreSQL a claim chooses and locks its run in its own snapshot; the key can fill before
 * it starts the run, and the parking the filling claim does skips the row this claim holds.
 * The claim must then park the run itself, not start it (nor fail on the slot index and leave
 * it unparked). Here the two claims are laid out by hand on two connections, in that order.
 */
import { Kysely, PostgresDialect, sql } from 'kysely'
import type pg from 'pg'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { migrate } from '../../src/store/migrations.js'
import { postgresFamily } from '../../src/store/postgres-family.js'
import type { Database } from '../../src/store/schema.js'
import type { NewRun } from '../../src/store/store.js'
import { createPostgresDatabase, postgresBackend } from '../support/postgres.js'

const keyed = (id: string, createdAt: string): NewRun => ({
  id,
  jobName: 'job',
  payload: '{}',
  idempotencyKey: null,
  concurrencyKey: 'tenant',
  concurrencyLimit: 1,
  createdAt,
  availableAt: createdAt,
  waitingFor: null,
  parentRunId: null,
})

describe.skipIf(postgresBackend.unavailable)('PostgreSQL: a key filling under a claim', () => {
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>
  let db: Kysely<Database>
  let pool: pg.Pool

  beforeEach(async () => {
    database = await createPostgresDatabase()
    pool = database.pool({ max: 3 })
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
    await migrate(db, postgresFamily)
  })

  afterEach(async () => {
    await db.destroy()
    await database.cleanup()
  })

  it('parks the run instead of starting it, so it waits with the runs parked before it', async () => {
    const now = new Date().toISOString()
    await postgresFamily.insertRuns(db, [keyed('first', now), keyed('second', now)])

    // Claim B has chosen `second` and holds its row lock, its update not yet made.
    const slow = await pool.connect()
    try {
      await slow.query('BEGIN')
      await slow.query(`SELECT id FROM durably_runs WHERE id = 'second' FOR UPDATE`)

      // Claim A takes `first` and fills the key; its parking skips the row B holds.
      const claimed = await postgresFamily.claimNextRun(db, {
        owner: 'a',
        jobNames: ['job'],
        now,
        staleBefore: null,
        staleThreshold: 30_000,
      })
      expect(claimed?.id).toBe('first')

      // B now makes the claim's update.
      const { rows } = await slow.query(
        `UPDATE durably_runs
         SET status = 'running', lease_owner = 'b', lease_generation = lease_generation + 1,
             heartbeat_at = now(), started_at = now(), concurrency_slot = 0
         WHERE id = 'second'
         RETURNING status, lease_owner, parked_from IS NOT NULL AS parked`,
      )
      expect(rows).toEqual([{ status: 'pending', lease_owner: null, parked: true }])
      await slow.query('COMMIT')
    } finally {
      slow.release()
    }

    const runs = await sql<{ id: string; status: string; parked: boolean }>`
      SELECT id, status, parked_from IS NOT NULL AS parked FROM durably_runs ORDER BY id`.execute(
      db,
    )
    expect(runs.rows).toEqual([
      { id: 'first', status: 'running', parked: false },
      { id: 'second', status: 'pending', parked: true },
    ])
  })
})
