/**
 * What only PostgreSQL does: wake-ups across processes through LISTEN/NOTIFY (at the defaults
 * on a pooled connection, or on one of its own with `listen: pool`), and surviving connections
 * the server kills. Each "process" is an instance with its own pool.
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

  /** Every statement text the pool's clients were given. */
  const sent = new Map<pg.Pool, string[]>()
  const processPool = (applicationName: string) => {
    const pool = new pg.Pool({
      connectionString: database.url,
      options: `-c search_path=${database.schema}`,
      application_name: applicationName,
      max: 4,
    })
    // A connection the server terminates while idle in the pool is reported here, not thrown.
    pool.on('error', () => {})
    const texts: string[] = []
    sent.set(pool, texts)
    pool.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown
      ;(client as { query: unknown }).query = (...args: unknown[]) => {
        texts.push(String(args[0]))
        return query(...args)
      }
    })
    pools.push(pool)
    return pool
  }

  /** `listen`: the defaults (a shared pooled connection), the pool itself, or off. */
  const openProcess = (
    applicationName: string,
    options: { listen?: 'pool' | false; pool?: pg.Pool; pollingInterval?: number } = {},
  ) => {
    const pool = options.pool ?? processPool(applicationName)
    const durably = createDurably({
      ...NEVER_POLL,
      ...(options.pollingInterval ? { pollingInterval: options.pollingInterval } : {}),
      dialect: new PostgresDialect({ pool }),
      ...(options.listen === 'pool' ? { listen: pool } : {}),
      ...(options.listen === false ? { listen: false as const } : {}),
    }).register({ note: noteJob })
    instances.push(durably)
    return durably
  }

  /**
   * Waits until the pool has sent its `count`th LISTEN and a claim after it (every LISTEN
   * wakes the worker once), then until the worker is idle: from then on, with polling off in
   * effect, only a notification can start a run.
   */
  const listening = async (pool: pg.Pool, worker: Durably, count = 1) => {
    const texts = sent.get(pool)!
    await waitUntil(
      () => {
        const listens = texts.flatMap((text, at) => (text.startsWith('LISTEN') ? [at] : []))
        const at = listens[count - 1]
        return at !== undefined && texts.slice(at + 1).some(isClaim)
      },
      { what: `LISTEN number ${count} and the claim it wakes` },
    )
    await waitUntil(() => worker.workerState === 'idle', { what: 'an idle worker' })
  }
  const isClaim = (text: string) => text.includes("SET status = 'running'")

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

  describe('wake-ups through LISTEN/NOTIFY at the defaults', () => {
    it('starts a run triggered by another process without waiting for a poll', async () => {
      const pool = processPool(`worker-${database.schema}`)
      const producer = openProcess(`producer-${database.schema}`)
      const worker = openProcess(`worker-${database.schema}`, { pool })
      await worker.init()
      await listening(pool, worker)

      const run = await producer.jobs.note.trigger({ text: 'hello' })
      await nextEvent(worker, 'run:complete', (event) => event.runId === run.id)
    })

    it('gives the connection that ran LISTEN back to the pool', async () => {
      const pool = processPool(`worker-${database.schema}`)
      const worker = openProcess(`worker-${database.schema}`, { pool })
      await worker.init()
      await listening(pool, worker)

      // Nothing runs and nothing polls (600 s): every connection is idle in the pool.
      expect(pool.totalCount).toBeGreaterThan(0)
      expect(pool.idleCount).toBe(pool.totalCount)
    })

    it('listens again on another connection after the server terminates the one that listened', async () => {
      const workerName = `worker-${database.schema}`
      const pool = processPool(workerName)
      const producer = openProcess(`producer-${database.schema}`)
      const worker = openProcess(workerName, { pool })
      await worker.init()
      await listening(pool, worker)
      // Every connection of the worker's pool, the one that listened among them.
      await terminate(workerName)
      await listening(pool, worker, 2)

      const run = await producer.jobs.note.trigger({ text: 'again' })
      await nextEvent(worker, 'run:complete', (event) => event.runId === run.id)
    })

    it('never sends LISTEN with listen: false', async () => {
      const pool = processPool(`worker-${database.schema}`)
      const worker = openProcess(`worker-${database.schema}`, { pool, listen: false })
      await worker.init()
      await waitUntil(() => worker.workerState === 'idle', { what: 'an idle worker' })
      // Stopping waits for a LISTEN in flight, had one been sent.
      await worker.stop()

      expect(sent.get(pool)!.some((text) => text.startsWith('LISTEN'))).toBe(false)
      expect(sent.get(pool)!.some((text) => text.includes("SET status = 'running'"))).toBe(true)
    })

    it('polls without a word when the pool’s clients cannot take a query object', async () => {
      const pool = processPool(`worker-${database.schema}`)
      let refused = 0
      pool.on('connect', (client) => {
        const query = client.query.bind(client) as (...args: unknown[]) => unknown
        ;(client as { query: unknown }).query = (...args: unknown[]) => {
          if (typeof (args[0] as { submit?: unknown })?.submit !== 'function') return query(...args)
          refused += 1
          return Promise.reject(new TypeError('this client takes text only'))
        }
      })
      const producer = openProcess(`producer-${database.schema}`)
      const worker = openProcess(`worker-${database.schema}`, { pool, pollingInterval: 50 })
      const errors = recordEvents(worker, ['worker:error'])
      await worker.init()
      await waitUntil(() => worker.workerState === 'idle', { what: 'an idle worker' })

      const run = await producer.jobs.note.trigger({ text: 'polled' })
      await nextEvent(worker, 'run:complete', (event) => event.runId === run.id)
      await worker.stop()
      expect(errors).toEqual([])
      // Asked once, then never again: the worker polls.
      expect(refused).toBe(1)
    })
  })

  it('polls without a word on a pool in pg’s pipeline mode, which refuses query objects', async () => {
    const readTimeout = 100
    const pool = new pg.Pool({
      connectionString: database.url,
      options: `-c search_path=${database.schema}`,
      pipeline: true,
      query_timeout: readTimeout,
    } as pg.PoolConfig)
    pools.push(pool)
    pool.on('error', () => {})
    let removed = 0
    pool.on('remove', () => {
      removed += 1
    })
    const producer = openProcess(`producer-${database.schema}`)
    const worker = openProcess(`worker-${database.schema}`, { pool, pollingInterval: 20 })
    const errors = recordEvents(worker, ['worker:error'])
    await worker.init()
    const startedAt = Date.now()
    // Runs back to back for three read timeouts: a timer `pg` armed for the refused LISTEN
    // and never cleared would destroy a healthy connection meanwhile.
    let runs = 0
    do {
      const run = await producer.jobs.note.trigger({ text: `pipelined ${runs}` })
      await nextEvent(worker, 'run:complete', (event) => event.runId === run.id)
      runs += 1
    } while (Date.now() - startedAt < 3 * readTimeout)
    await worker.stop()
    expect(errors).toEqual([])
    expect(removed).toBe(0)
  })

  describe('wake-ups through LISTEN/NOTIFY with listen: pool', () => {
    it('starts a run triggered by another process without waiting for a poll', async () => {
      const producer = openProcess(`producer-${database.schema}`)
      const worker = openProcess(`worker-${database.schema}`, { listen: 'pool' })
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
      const worker = openProcess(`worker-${database.schema}`, { listen: 'pool' }).register({
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
      const worker = openProcess(workerName, { listen: 'pool' })
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

  it("triggerAndWait keeps waiting while its run's insert waits on a lock, across polls", async () => {
    const applicationName = `waiter-${database.schema}`
    const pool = processPool(applicationName)
    const durably = openProcess('waiter', { pool, pollingInterval: 20 })
    await durably.init()
    // An open transaction holding the run's idempotency key: the insert waits on it.
    const holder = new pg.Client({
      connectionString: database.url,
      options: `-c search_path=${database.schema}`,
    })
    await holder.connect()
    try {
      await holder.query('BEGIN')
      await holder.query(
        `INSERT INTO durably_runs (id, job_name, payload, status, idempotency_key,
           lease_generation, created_at, updated_at, available_at)
         VALUES ('holder', 'note', '{}', 'pending', 'held', 0, now(), now(), now())`,
      )
      const waiting = durably.jobs.note.triggerAndWait(
        { text: 'late' },
        { idempotencyKey: 'held', timeout: 10_000 },
      )
      let outcome: string | undefined
      waiting.then(
        () => (outcome = 'resolved'),
        (error: unknown) => (outcome = String(error)),
      )
      await waitUntil(
        async () =>
          (
            await holder.query(
              `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
              [applicationName],
            )
          ).rowCount,
        { what: 'the insert waiting on the held key' },
      )
      // Three of the worker's polls, each as long as the waiter's: a waiter polling before
      // its run is stored would have read no row by now, and taken the run for deleted.
      const texts = sent.get(pool)!
      const claimsBefore = texts.filter(isClaim).length
      await waitUntil(() => texts.filter(isClaim).length >= claimsBefore + 3, {
        what: 'three polls',
      })
      expect(outcome).toBeUndefined()
      await holder.query('ROLLBACK')
      expect(await waiting).toMatchObject({ output: 'LATE' })
    } finally {
      await holder.end()
    }
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
      const worker = openProcess(workerName, { listen: 'pool' }).register({ slow })
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
