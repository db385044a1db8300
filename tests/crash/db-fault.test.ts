/**
 * Another connection holds SQLite's write lock for longer than durably waits for it
 * (busy timeout plus its own retries), then lets go. Nothing is lost: the worker reports
 * `worker:error`, backs off and carries on; a trigger during the fault fails clearly.
 */
import { createClient } from '@libsql/client'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createDurably, DatabaseError, defineJob } from '../../src/index.js'
import { libsqlBackend, type TestDatabase } from '../support/backends.js'
import { nextEvent, recordEvents, waitUntil } from '../support/wait.js'

const countJob = defineJob({
  name: 'count',
  input: z.object({ n: z.number() }),
  run: async (step, { n }) => {
    const doubled = await step.run('double', () => n * 2)
    return step.run('add', () => doubled + 1)
  },
})

describe('database faults', () => {
  let database: TestDatabase
  afterEach(() => database.cleanup())

  it('a write lock held past the busy timeout loses nothing and the worker carries on', async () => {
    database = await libsqlBackend.create()
    const durably = createDurably({
      dialect: database.dialect,
      pollingInterval: 20,
      heartbeatInterval: 200,
      staleThreshold: 20_000,
    }).register({ count: countJob })
    const errors = recordEvents(durably, ['worker:error'])
    await durably.migrate()
    const before = await durably.jobs.count.batchTrigger(
      Array.from({ length: 30 }, (_, n) => ({ n })),
    )

    // The locker is another connection to the same file, as another process would be.
    const url = `file:${(await database.exec('PRAGMA database_list'))[0]?.file as string}`
    const locker = createClient({ url })
    await locker.execute('BEGIN EXCLUSIVE')
    try {
      durably.start()
      await nextEvent(durably, 'worker:error', () => true, 20_000)

      // A trigger during the fault rejects with a clear, typed error rather than hanging.
      const during = await durably.jobs.count.trigger({ n: 1000 }).catch((error: unknown) => error)
      expect(during).toBeInstanceOf(DatabaseError)
      expect((during as DatabaseError).message).toMatch(/busy|locked/i)
    } finally {
      await locker.execute('COMMIT')
      locker.close()
    }

    const after = await durably.jobs.count.trigger({ n: 7 })
    await waitUntil(
      async () => {
        const runs = await durably.getRuns({ limit: 100 })
        return runs.length === 31 && runs.every((run) => run.status === 'completed')
      },
      { timeout: 30_000, what: 'every run to complete after the lock was released' },
    )
    expect((await durably.getRun(after.id))?.output).toBe(15)
    for (const run of before) {
      expect((await durably.getSteps(run.id)).map((step) => step.name)).toEqual(['double', 'add'])
    }
    expect(errors.length).toBeGreaterThan(0)
    await durably.destroy()
  }, 60_000)
})
