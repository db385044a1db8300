/**
 * What only PostgreSQL does: wake-ups across processes through LISTEN/NOTIFY, and surviving
 * connections the server kills. Each "process" is an instance with its own pool.
 */
import { PostgresDialect } from 'kysely'
import pg from 'pg'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createDurably, type Durably, defineJob } from '../src/index.js'
import { createPostgresDatabase, postgresBackend } from './support/postgres.js'
import { gate, nextEvent, recordEvents, waitUntil } from './support/wait.js'

// Far longer than any test here: a run that starts was woken, not found by a poll.
const NEVER_POLL = { pollingInterval: 600_000, heartbeatInterval: 50, staleThreshold: 2_000 }

const noteJob = defineJob({
  name: 'note',
  input: z.object({ text: z.string() }),
  run: async (step, { text }) => step.run('note', () => text.toUpperCase()),
})

describe.skipIf(postgresBackend.unavailable)('PostgreSQL', () => {
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>
  const pools: pg.Pool[] = []
  const instances: Durably[] = []

  const processPool = (applicationName: string) => {
    const pool = new pg.Pool({
      connectionString: database.url,
      options: `-c search_path=${database.schema}`,
      application_name: applicationName,
      max: 4,
    })
    // A connection the server terminates while idle in the pool is reported here, not thrown.
    pool.on('error', () => {})
    pools.push(pool)
    return pool
  }

  const openProcess = (applicationName: string, options: { listen?: boolean } = {}) => {
    const pool = processPool(applicationName)
    const durably = createDurably({
      ...NEVER_POLL,
      dialect: new PostgresDialect({ pool }),
      ...(options.listen ? { listen: pool } : {}),
    }).register({ note: noteJob })
    instances.push(durably)
    return durably
  }

  const terminate = (applicationName: string, queryPatterns = ['%']) =>
    database.exec(
      `SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
       WHERE application_name = $1 AND query LIKE ANY($2) AND pid <> pg_backend_pid()`,
      [applicationName, queryPatterns],
    )

  beforeEach(async () => {
    database = await createPostgresDatabase()
  })

  afterEach(async () => {
    await Promise.all(instances.splice(0).map((durably) => durably.destroy()))
    await Promise.all(pools.splice(0).map((pool) => pool.end().catch(() => undefined)))
    await database.cleanup()
  })

  describe('wake-ups through LISTEN/NOTIFY', () => {
    it('starts a run triggered by another process without waiting for a poll', async () => {
      const producer = openProcess(`producer-${database.schema}`)
      const worker = openProcess(`worker-${database.schema}`, { listen: true })
      await worker.init()
      await waitUntil(() => worker.workerState === 'idle', { what: 'an idle worker' })

      const run = await producer.jobs.note.trigger({ text: 'hello' })
      await nextEvent(worker, 'run:complete', (event) => event.runId === run.id)

      expect(await producer.jobs.note.getRun(run.id)).toMatchObject({
        status: 'completed',
        output: 'HELLO',
      })
    })

    it('starts a run retried by another process without waiting for a poll', async () => {
      let attempts = 0
      const failing = defineJob({
        name: 'flaky',
        input: z.object({}),
        run: async (step) =>
          step.run('attempt', () => {
            attempts += 1
            if (attempts === 1) throw new Error('the first attempt fails')
            return 'ok'
          }),
      })
      const producer = openProcess(`producer-${database.schema}`).register({ flaky: failing })
      const worker = openProcess(`worker-${database.schema}`, { listen: true }).register({
        flaky: failing,
      })
      await worker.init()
      const run = await producer.jobs.flaky.trigger({})
      await nextEvent(worker, 'run:fail', (event) => event.runId === run.id)
      await waitUntil(() => worker.workerState === 'idle', { what: 'an idle worker' })

      await producer.retry(run.id)
      await nextEvent(worker, 'run:complete', (event) => event.runId === run.id)
    })

    it('listens again after the server terminates its listening connection', async () => {
      const workerName = `worker-${database.schema}`
      const producer = openProcess(`producer-${database.schema}`)
      const worker = openProcess(workerName, { listen: true })
      const events = recordEvents(worker, ['worker:error'])
      await worker.init()
      // The listening connection's last statement is its LISTEN, or the probe that follows
      // every heartbeatInterval (50 ms here): no other connection sends `SELECT 1`.
      await waitUntil(
        async () => (await terminate(workerName, ['LISTEN%', 'SELECT 1'])).length === 1,
        { what: 'the listening connection to terminate' },
      )
      await waitUntil(
        () => events.some((event) => 'context' in event && event.context === 'listen'),
        {
          what: 'worker:error from the listener',
        },
      )

      // Polling is off in effect: only a listener that came back can start this run.
      const run = await producer.jobs.note.trigger({ text: 'again' })
      await nextEvent(worker, 'run:complete', (event) => event.runId === run.id, 20_000)
    })
  })

  describe('faults', () => {
    it("finishes a run whose worker's connections are terminated mid-step", async () => {
      const held = gate()
      const entered = gate()
      const slow = defineJob({
        name: 'slow',
        input: z.object({}),
        run: async (step) => {
          const first = await step.run('first', async () => {
            entered.open()
            await held.promise
            return 1
          })
          const second = await step.run('second', () => first + 1)
          return { second }
        },
      })
      const workerName = `worker-${database.schema}`
      const worker = openProcess(workerName, { listen: true }).register({ slow })
      const errors = recordEvents(worker, ['worker:error'])
      const run = await worker.jobs.slow.trigger({})
      await worker.init()
      await entered.promise

      await terminate(workerName)
      held.open()

      const finished = await waitUntil(
        async () => {
          const current = await worker.jobs.slow.getRun(run.id)
          return current?.status === 'completed' ? current : undefined
        },
        { timeout: 20_000, what: 'the run to complete after its connections were killed' },
      )
      expect(finished.output).toEqual({ second: 2 })
      expect(errors.length).toBeGreaterThan(0)
      const steps = await worker.getSteps(run.id)
      expect(steps.map((step) => [step.name, step.status])).toEqual([
        ['first', 'completed'],
        ['second', 'completed'],
      ])
    })
  })
})
