/**
 * What an architecture review and a 0.6.0 migration found wrong with the instance itself,
 * each pinned on every Node backend: Kysely features kept on `durably.db`, dialects we do
 * not speak refused by name, one validation of run filters, one error prefix per batch
 * item, unknown options refused, `null` for absent values, and replay faithful to `null`.
 */
import { MysqlDialect, SqliteDialect } from 'kysely'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  createDurably,
  createDurablyHandler,
  defineJob,
  InvalidArgumentError,
  TimeoutError,
  ValidationError,
} from '../../src/index.js'
import { echoJob, type Harness, openHarness } from '../contract/harness.js'
import { libsqlBackend } from '../support/backends.js'
import { betterSqlite3Backend } from '../support/better-sqlite3.js'
import { postgresBackend } from '../support/postgres.js'

describe('createDurably() with a dialect durably does not speak', () => {
  it('refuses MySQL at construction, naming the dialect', () => {
    const dialect = new MysqlDialect({ pool: async () => ({}) as never })
    expect(() => createDurably({ dialect })).toThrow(InvalidArgumentError)
    expect(() => createDurably({ dialect })).toThrow(/unsupported dialect MysqlDialect/)
  })
})

describe('options we do not know', () => {
  it('are refused by createDurably, naming the typo', () => {
    const dialect = new MysqlDialect({ pool: async () => ({}) as never })
    expect(() => createDurably({ dialect, pollingIntervall: 10 } as never)).toThrow(
      /createDurably: unknown option "pollingIntervall"/,
    )
  })

  it('are refused by createDurablyHandler, naming the typo', () => {
    const durably = createDurably({ dialect: new SqliteDialect({ database: {} as never }) })
    expect(() => createDurablyHandler(durably, { authorise: () => true } as never)).toThrow(
      /createDurablyHandler: unknown option "authorise"/,
    )
  })
})

describe('defineJob()', () => {
  it('refuses an option it does not know, naming it', () => {
    expect(() =>
      defineJob({ ...echoJob, retires: 3 } as unknown as Parameters<typeof defineJob>[0]),
    ).toThrow(/unknown option "retires"/)
  })
})

for (const backend of [libsqlBackend, betterSqlite3Backend, postgresBackend]) {
  describe.skipIf(!!backend.unavailable)(`the instance on ${backend.name}`, () => {
    let h: Harness
    beforeEach(async () => {
      h = await openHarness(backend)
    })
    afterEach(async () => {
      await h.cleanup()
    })

    // libSQL's own Kysely driver has no savepoints; the others do, and wrapping keeps them.
    it.skipIf(backend.name === 'libsql')('keeps savepoints on durably.db', async () => {
      const durably = h.make()
      await durably.migrate()
      const trx = await durably.db.startTransaction().execute()
      const inner = await trx.savepoint('before').execute()
      await inner
        .insertInto('durably_schema_versions')
        .values({ version: 999, applied_at: new Date().toISOString() })
        .execute()
      await inner.rollbackToSavepoint('before').execute()
      await trx.commit().execute()
      const rows = await durably.db
        .selectFrom('durably_schema_versions')
        .select('version')
        .where('version', '=', 999)
        .execute()
      expect(rows).toEqual([])
    })

    it('validates a job handle getRuns filter like durably.getRuns', async () => {
      const { echo } = h.make().register({ echo: echoJob })
      await expect(echo.getRuns({ limit: -1 })).rejects.toThrow(InvalidArgumentError)
      await expect(echo.getRuns({ status: 'bogus' as never })).rejects.toThrow(
        /unknown status "bogus"/,
      )
    })

    it('refuses a getRuns filter key it does not know', async () => {
      const durably = h.make()
      await expect(durably.getRuns({ staus: 'failed' } as never)).rejects.toThrow(
        /unknown option "staus"/,
      )
    })

    it('names a bad batch item once', async () => {
      const { echo } = h.make().register({ echo: echoJob })
      const error = await echo
        .batchTrigger([{ value: 'a' }, { input: { value: 'b' }, options: { idempotencyKey: '' } }])
        .catch((caught: unknown) => caught as Error)
      expect(error).toBeInstanceOf(ValidationError)
      expect((error as Error).message.match(/item 1/g)).toHaveLength(1)
    })

    it('refuses a trigger option it does not know, storing nothing', async () => {
      const durably = h.make()
      const { echo } = durably.register({ echo: echoJob })
      await expect(echo.trigger({ value: 'a' }, { delya: 5 } as never)).rejects.toThrow(
        /unknown option "delya"/,
      )
      expect(await durably.getRuns()).toEqual([])
    })

    it('answers absent output, error and progress as null, also after retry()', async () => {
      const durably = h.make()
      let fail = true
      const { flaky } = durably.register({
        flaky: defineJob({
          name: 'flaky',
          input: z.object({}),
          run: async (step) => {
            await step.run('maybe', () => {
              if (fail) throw new Error('not yet')
            })
          },
        }),
      })
      const run = await flaky.trigger({})
      expect(run).toMatchObject({ output: null, error: null, progress: null })
      await durably.processOne()
      expect((await durably.getRun(run.id))?.error).toBe('not yet')
      fail = false
      await durably.retry(run.id)
      const retried = await durably.getRun(run.id)
      expect(retried?.error).toBeNull()
      expect(retried?.output).toBeNull()
      const [step] = await durably.getSteps(run.id)
      expect(step).toMatchObject({ status: 'failed', output: null, error: 'not yet' })
    })

    it('replays a step that returned null as null', async () => {
      const durably = h.make()
      const seen: unknown[] = []
      let crash = true
      const { nulls } = durably.register({
        nulls: defineJob({
          name: 'nulls',
          input: z.object({}),
          run: async (step) => {
            seen.push(await step.run('nothing', () => null))
            if (crash) {
              crash = false
              throw new Error('stop after the step')
            }
          },
        }),
      })
      const run = await nulls.trigger({})
      await durably.processOne()
      await durably.retry(run.id)
      await durably.processOne()
      expect(seen).toEqual([null, null])
    })

    /** A triggerAndWait that times out (no worker here runs the run), and its error. */
    const timedOut = async () => {
      const { echo } = h.make().register({ echo: echoJob })
      const error = await echo
        .triggerAndWait({ value: 'a' }, { timeout: 10 })
        .catch((caught: unknown) => caught as Error)
      expect(error).toBeInstanceOf(TimeoutError)
      return (error as Error).message
    }

    it('says why a triggerAndWait cannot finish when no worker was started here', async () => {
      expect(await timedOut()).toMatch(/call durably\.init\(\)/)
    })

    it('says timeout when triggerAndWait gives up', async () => {
      expect(await timedOut()).toMatch(/timeout/)
    })
  })
}
