/**
 * PostgreSQL keeps durably's hot statements prepared (src/store/postgres-prepared.ts): each is
 * planned once per connection, not once per execution. When the server no longer has what
 * `pg` believes prepared, durably goes on with plain statements and loses nothing. Each
 * instance here has a pool of one connection, so `durably.db` sees the worker's session.
 */
import { PostgresDialect, sql } from 'kysely'
import type pg from 'pg'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createDurably, defineJob } from '../src/index.js'
import { postgresFamily } from '../src/store/postgres-family.js'
import { isPreparedStatementLost } from '../src/store/postgres-prepared.js'
import type { NewRun } from '../src/store/store.js'
import { createPostgresDatabase, postgresBackend } from './support/postgres.js'
import { recordEvents } from './support/wait.js'

const noteJob = defineJob({
  name: 'note',
  input: z.object({ text: z.string() }),
  run: async (step, { text }) => step.run('note', () => text.toUpperCase()),
})

const inserted = (id: string): NewRun => {
  const now = new Date().toISOString()
  return {
    id,
    jobName: 'note',
    payload: '{"text":"x"}',
    idempotencyKey: null,
    concurrencyKey: null,
    createdAt: now,
    availableAt: now,
    waitingFor: null,
    parentRunId: null,
  }
}

describe.skipIf(postgresBackend.unavailable)('PostgreSQL prepared statements', () => {
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>
  let pool: pg.Pool
  let durably: ReturnType<typeof open>

  const open = (pool: pg.Pool) =>
    createDurably({ dialect: new PostgresDialect({ pool }), pollingInterval: 20 }).register({
      note: noteJob,
    })

  beforeEach(async () => {
    database = await createPostgresDatabase()
    pool = database.pool({ max: 1 })
    durably = open(pool)
    await durably.init()
  })

  afterEach(async () => {
    await durably.destroy() // ends the pool too
    await database.cleanup()
  })

  const preparedStatements = async () => {
    const result = await sql<{ name: string; statement: string }>`
      SELECT name, statement FROM pg_prepared_statements ORDER BY name`.execute(durably.db)
    return result.rows
  }

  const completes = async (text: string) => {
    const { output } = await durably.jobs.note.triggerAndWait({ text })
    expect(output).toBe(text.toUpperCase())
  }

  it('prepares the claim, the step commit and the insert on the connection, by stable names', async () => {
    await completes('one')
    const prepared = await preparedStatements()
    expect(prepared.every(({ name }) => /^durably_[0-9a-f]{16}$/.test(name))).toBe(true)
    const texts = prepared.map(({ statement }) => statement)
    expect(texts.some((text) => text.includes('FROM durably_claim_candidate('))).toBe(true)
    expect(texts.some((text) => text.includes('INSERT INTO durably_steps'))).toBe(true)
    expect(texts.some((text) => text.includes('json_to_recordset'))).toBe(true)

    // A second run reuses them: the same names, no more.
    await completes('two')
    expect((await preparedStatements()).map(({ name }) => name)).toEqual(
      prepared.map(({ name }) => name),
    )
  })

  it('runs on, as plain statements, when the server forgot them (DEALLOCATE ALL)', async () => {
    const errors = recordEvents(durably, ['worker:error', 'run:fail'])
    await completes('before')
    expect((await preparedStatements()).length).toBeGreaterThan(0)

    await sql`DEALLOCATE ALL`.execute(durably.db)
    await completes('after')
    await completes('later')

    expect(await preparedStatements()).toEqual([])
    expect(errors).toEqual([])
  })

  it('runs on when a column added under its prepared insert changes what it returns', async () => {
    await completes('before')
    // What a newer version's migration does while this process runs.
    await sql`ALTER TABLE durably_runs ADD COLUMN added_later text`.execute(durably.db)
    await completes('after')
    expect(await durably.jobs.note.getRuns()).toHaveLength(2)
  })

  it('inside a transaction, fails as busy (nothing ran) and works when tried again', async () => {
    await completes('before')
    // No claim may meet the forgotten statements first (it would turn naming off).
    await durably.stop()
    await sql`DEALLOCATE ALL`.execute(durably.db)

    const failure = await durably.db
      .transaction()
      .execute((trx) => postgresFamily.insertRuns(trx, [inserted('in-transaction')]))
      .catch((error: unknown) => error)
    expect(isPreparedStatementLost(failure)).toBe(true)
    expect(postgresFamily.isBusy(failure)).toBe(true)
    expect(await durably.getRun('in-transaction')).toBeNull()

    const created = await durably.db
      .transaction()
      .execute((trx) => postgresFamily.insertRuns(trx, [inserted('in-transaction')]))
    expect(created.map((run) => run.id)).toEqual(['in-transaction'])
  })
})
