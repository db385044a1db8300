/**
 * On PostgreSQL a worker draining a backlog completes each run and claims the next in one
 * statement (`RunQueue.completeRunAndClaim`); runs that come one at a time are completed
 * alone (mostly), so their completion is not delayed by a claim that would find nothing. The
 * statements are counted as they reach `pg`.
 */
import { PostgresDialect } from 'kysely'
import type pg from 'pg'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createDurably, defineJob } from '../src/index.js'
import { createPostgresDatabase, postgresBackend } from './support/postgres.js'
import { nextEvent } from './support/wait.js'

const stepJob = defineJob({
  name: 'step',
  input: z.object({ n: z.number() }),
  run: async (step, { n }) => step.run('double', () => n * 2),
})

describe.skipIf(postgresBackend.unavailable)(
  'PostgreSQL completion carrying the next claim',
  () => {
    let database: Awaited<ReturnType<typeof createPostgresDatabase>>
    let durably: ReturnType<typeof open>
    let statements: string[]

    const open = (pool: pg.Pool) =>
      // No poll timer: every claim here follows a start, a trigger or a completion.
      createDurably({ dialect: new PostgresDialect({ pool }), pollingInterval: 600_000 }).register({
        step: stepJob,
      })

    beforeEach(async () => {
      database = await createPostgresDatabase()
      const pool = database.pool({ max: 10 })
      statements = []
      pool.on('connect', (client) => {
        const query = client.query.bind(client) as (...args: unknown[]) => unknown
        ;(client as { query: unknown }).query = (...args: unknown[]) => {
          const [config] = args
          statements.push(
            typeof config === 'string' ? config : String((config as { text?: string }).text),
          )
          return query(...args)
        }
      })
      durably = open(pool)
      await durably.init()
    })

    afterEach(async () => {
      await durably.destroy()
      await database.cleanup()
    })

    const count = (pattern: RegExp) => statements.filter((text) => pattern.test(text)).length
    const carried = () => count(/\bWITH done AS\b/)
    const claimsAlone = () => count(/^\s*WITH stale AS\b/)

    it('drains a backlog with one statement per run for completion and next claim', async () => {
      const runs = await durably.jobs.step.batchTrigger(
        Array.from({ length: 20 }, (_, n) => ({ n })),
      )
      const last = runs.at(-1)?.id
      statements = []
      const finished = nextEvent(durably, 'run:complete', (event) => event.runId === last)
      durably.start()
      await finished
      // Counted at the last completion, before the reads below add statements of their own.
      const atEnd = { carried: carried(), claimsAlone: claimsAlone() }

      const outputs = await Promise.all(runs.map((run) => durably.jobs.step.getRun(run.id)))
      expect(outputs.map((run) => run?.output)).toEqual(runs.map((_, n) => n * 2))
      // The first run's claim and the claim after its completion find the backlog; from then
      // on each completion carries the next claim, and the last one finds the queue empty.
      expect(atEnd.carried).toBeGreaterThanOrEqual(18)
      expect(atEnd.claimsAlone).toBeLessThanOrEqual(4)
    })

    it('completes runs that come one at a time mostly alone', async () => {
      durably.start()
      for (let n = 0; n < 20; n++) {
        const { output } = await durably.jobs.step.triggerAndWait({ n })
        expect(output).toBe(n * 2)
      }
      // A trigger may land before the claim that follows a completion, which then finds it and
      // takes it for a backlog: the next completion carries a claim, finds nothing, and stops.
      expect(carried()).toBeLessThan(10)
    })
  },
)
