/**
 * Retention: `purgeRuns` and the `retention` option, on every backend. Finished runs go with
 * everything addressed to them; unfinished runs, and events they could still take, stay.
 */
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineJob, InvalidArgumentError, withLogPersistence } from '../../src/index.js'
import { waitUntil } from '../support/wait.js'
import { echoJob, type Harness, heldJob } from './harness.js'

const loggingJob = defineJob({
  name: 'logging',
  input: z.object({ fail: z.boolean() }),
  run: async (step, { fail }) => {
    await step.run('work', () => {
      step.log.info('working')
      if (fail) throw new Error('boom')
      return 1
    })
  },
})

const FUTURE = () => new Date(Date.now() + 60_000)

export function defineRetentionSuite(harness: () => Harness, family: 'sqlite' | 'postgres'): void {
  const sqlOf = () => {
    const h = harness()
    const param = (index: number) => (family === 'postgres' ? `$${index}` : '?')
    return { rows: h.database.exec.bind(h.database), param }
  }
  const count = async (table: string, column: string, id: string) => {
    const { rows, param } = sqlOf()
    const [row] = await rows(`SELECT COUNT(*) AS n FROM ${table} WHERE ${column} = ${param(1)}`, [
      id,
    ])
    return Number(row?.n)
  }
  const insertEvent = async (id: string, target: string | null, createdAt: string) => {
    const { rows, param } = sqlOf()
    await rows(
      `INSERT INTO durably_events (id, name, data, target_run_id, created_at)
       VALUES (${param(1)}, 'ping', '{}', ${param(2)}, ${param(3)})`,
      [id, target, createdAt],
    )
  }
  const eventIds = async () => {
    const found = await sqlOf().rows('SELECT id FROM durably_events ORDER BY id')
    return found.map((row) => String(row.id))
  }

  describe('purgeRuns()', () => {
    it('removes finished runs with their steps, logs, attempts and signals', async () => {
      const durably = harness().make().use(withLogPersistence())
      const { logging } = durably.register({ logging: loggingJob })
      const done = await logging.trigger({ fail: false })
      const failed = await logging.trigger({ fail: true })
      while (await durably.processOne()) {}
      expect((await durably.getRun(failed.id))?.status).toBe('failed')
      await waitUntil(async () => (await durably.getLogs(done.id)).length > 0)
      const { rows, param } = sqlOf()
      await rows(
        `INSERT INTO durably_attempts (id, run_id, attempt, started_at)
         VALUES (${param(1)}, ${param(2)}, 1, ${param(3)})`,
        ['attempt-1', done.id, new Date().toISOString()],
      )
      await insertEvent('signal-1', done.id, new Date().toISOString())

      expect(await durably.purgeRuns({ olderThan: FUTURE() })).toBe(2)

      for (const run of [done, failed]) {
        expect(await durably.getRun(run.id)).toBeNull()
        expect(await count('durably_steps', 'run_id', run.id)).toBe(0)
        expect(await count('durably_logs', 'run_id', run.id)).toBe(0)
        expect(await count('durably_attempts', 'run_id', run.id)).toBe(0)
        expect(await count('durably_events', 'target_run_id', run.id)).toBe(0)
      }
    })

    it('never removes a pending or running run, nor one finished after olderThan', async () => {
      const h = harness()
      const held = heldJob('held')
      const durably = h.make()
      const { echo, held: heldHandle } = durably.register({ echo: echoJob, held: held.job })
      const finished = await echo.trigger({ value: 'a' })
      await durably.processOne()
      const running = await heldHandle.trigger({})
      const processing = durably.processOne()
      await held.entered.promise
      const pending = await echo.trigger({ value: 'b' })

      expect(await durably.purgeRuns({ olderThan: new Date(Date.now() - 60_000) })).toBe(0)
      expect(await durably.purgeRuns({ olderThan: FUTURE() })).toBe(1)
      expect(await durably.getRun(finished.id)).toBeNull()
      expect((await durably.getRun(running.id))?.status).toBe('running')
      expect((await durably.getRun(pending.id))?.status).toBe('pending')
      held.held.open()
      await processing
    })

    it('removes at most limit runs per call, and only the given status and job', async () => {
      const durably = harness().make()
      const { echo, logging } = durably.register({ echo: echoJob, logging: loggingJob })
      await echo.batchTrigger([1, 2, 3, 4, 5].map((n) => ({ value: String(n) })))
      const failed = await logging.trigger({ fail: true })
      const completedLogging = await logging.trigger({ fail: false })
      while (await durably.processOne()) {}

      const olderThan = FUTURE()
      expect(await durably.purgeRuns({ olderThan, status: 'failed' })).toBe(1)
      expect(await durably.getRun(failed.id)).toBeNull()
      expect(await durably.purgeRuns({ olderThan, jobName: 'echo', limit: 2 })).toBe(2)
      expect(await durably.purgeRuns({ olderThan, jobName: 'echo', limit: 2 })).toBe(2)
      expect(await durably.purgeRuns({ olderThan, jobName: 'echo', limit: 2 })).toBe(1)
      expect(await durably.purgeRuns({ olderThan, jobName: 'echo' })).toBe(0)
      expect((await durably.getRun(completedLogging.id))?.status).toBe('completed')
    })

    it('removes old broadcast events no unfinished run could take, and only those', async () => {
      const durably = harness().make()
      const { echo } = durably.register({ echo: echoJob })
      await durably.migrate()
      await insertEvent('e-old', null, '2020-01-01T00:00:00.000Z')
      const pending = await echo.trigger({ value: 'waits' })
      const after = new Date(Date.parse(pending.createdAt) + 1000).toISOString()
      await insertEvent('e-after-pending', null, after)
      await insertEvent('signal-pending', pending.id, '2020-01-01T00:00:00.000Z')

      // A filtered purge is about runs only.
      await durably.purgeRuns({ olderThan: FUTURE(), status: 'completed' })
      expect(await eventIds()).toEqual(['e-after-pending', 'e-old', 'signal-pending'])
      await durably.purgeRuns({ olderThan: new Date(Date.parse(after) + 1000) })
      expect(await eventIds()).toEqual(['e-after-pending', 'signal-pending'])
    })

    it.each([
      ['a negative number', -1],
      ['a number', Date.now()],
      ['an unparseable string', 'last week'],
      ['an invalid Date', new Date(Number.NaN)],
      ['nothing', undefined],
    ])('rejects olderThan given as %s', async (_, olderThan) => {
      const durably = harness().make()
      await expect(durably.purgeRuns({ olderThan: olderThan as never })).rejects.toThrow(
        InvalidArgumentError,
      )
    })

    it('rejects an unfinished status, an empty job name and a negative limit', async () => {
      const durably = harness().make()
      const olderThan = new Date()
      for (const options of [
        { olderThan, status: 'pending' },
        { olderThan, jobName: '' },
        { olderThan, limit: -1 },
        { olderThan, keep: true },
      ]) {
        await expect(durably.purgeRuns(options as never)).rejects.toThrow(InvalidArgumentError)
      }
    })
  })

  describe('retention option', () => {
    it('purges finished runs past their period in the background, per status', async () => {
      const durably = harness().make({ retention: { completed: 100 } })
      const { echo, logging } = durably.register({ echo: echoJob, logging: loggingJob })
      await durably.init()
      const failed = await logging.trigger({ fail: true })
      await waitUntil(async () => (await durably.getRun(failed.id))?.status === 'failed')
      const completed = await echo.trigger({ value: 'x' })
      await waitUntil(async () => (await durably.getRun(completed.id))?.status === 'completed')
      await waitUntil(async () => (await durably.getRun(completed.id)) === null, {
        what: 'the completed run to be purged',
      })
      // Failed runs have no period: kept.
      expect((await durably.getRun(failed.id))?.status).toBe('failed')
    })

    it.each([
      ['zero', { completed: 0 }],
      ['a negative number', { failed: -5 }],
      ['zero days', { completed: '0d' }],
      ['an unparseable string', { completed: 'a week' }],
      ['an unknown unit', { completed: '7y' }],
      ['NaN', { cancelled: Number.NaN }],
      ['an unknown status', { pending: '1d' }],
      ['not an object', '7d'],
    ])('rejects a retention of %s with InvalidArgumentError', (_, retention) => {
      expect(() => harness().make({ retention: retention as never })).toThrow(InvalidArgumentError)
    })

    it("accepts '7d', '12h', '30m', '45s', '500ms' and milliseconds", () => {
      expect(() =>
        harness().make({ retention: { completed: '7d', failed: '12h', cancelled: 1000 } }),
      ).not.toThrow()
      for (const period of ['30m', '45s', '500ms', '1.5h', '2w'] as const) {
        expect(() => harness().make({ retention: { completed: period } })).not.toThrow()
      }
    })
  })
}
