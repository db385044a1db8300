/**
 * The contract of cron schedules on every backend: one run per tick however many workers
 * share the database, one catch-up run after an outage, and clear errors at definition.
 */
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { type Durably, defineJob, InvalidArgumentError } from '../../src/index.js'
import { waitUntil } from '../support/wait.js'
import type { Harness } from './harness.js'

function tickJob(executed: string[], cron = '* * * * * *') {
  return defineJob({
    name: 'tick',
    input: z.object({ source: z.string() }),
    schedule: { cron, input: { source: 'cron' } },
    run: async (step, { source }) => {
      const at = await step.run('record', () => new Date().toISOString())
      executed.push(at)
      return { source }
    },
  })
}

const scheduledRuns = async (durably: Durably) =>
  (await durably.getRuns({ jobName: 'tick' })).filter((run) =>
    run.idempotencyKey?.startsWith('schedule:tick:'),
  )

export function defineScheduleSuite(harness: () => Harness, workers: number): void {
  describe('defineJob({ schedule })', () => {
    it.each([
      ['an invalid cron expression', { cron: '61 * * * *' }, /not a valid cron/],
      ['an unknown time zone', { cron: '* * * * *', timezone: 'Mars/Olympus' }, /time zone/],
      ['an unknown schedule option', { cron: '* * * * *', timzone: 'UTC' }, /timzone/],
    ])('refuses %s, naming the job', (_, schedule, message) => {
      const define = () =>
        defineJob({
          name: 'nightly',
          input: z.object({}),
          schedule: schedule as never,
          run: async () => {},
        })
      expect(define).toThrow(InvalidArgumentError)
      expect(define).toThrow(message)
      expect(define).toThrow(/nightly/)
    })

    it('lists each schedule with its next ticks in getSchedules()', () => {
      const durably = harness().make()
      durably.register({ tick: tickJob([], '0 3 * * *') })
      const [info] = durably.getSchedules()
      expect(info).toMatchObject({ jobName: 'tick', cron: '0 3 * * *', timezone: 'UTC' })
      expect(info?.upcoming).toHaveLength(5)
      expect(info?.nextTick).toMatch(/T03:00:00\.000Z$/)
      expect(Date.parse(info!.nextTick!)).toBeGreaterThan(Date.now())
    })
  })

  describe(`a one-second cron with ${workers} workers on one database`, () => {
    it('creates exactly one run per tick, each executed once', async () => {
      const h = harness()
      const executed: string[] = []
      const instances = Array.from({ length: workers }, (_, index) => {
        // Leases that outlive a slow machine's pauses: a takeover is not what this checks.
        const patient = { heartbeatInterval: 200, staleThreshold: 60_000 }
        const durably = h.make(patient, index === 0 ? undefined : h.database.secondDialect())
        durably.register({ tick: tickJob(executed) })
        return durably
      })
      await Promise.all(instances.map((durably) => durably.init()))
      const observer = instances[0]!
      await waitUntil(
        async () =>
          (await scheduledRuns(observer)).filter((run) => run.status === 'completed').length >= 3,
        { timeout: 20_000, what: 'three ticks to complete' },
      )
      await Promise.all(instances.map((durably) => durably.stop()))
      const runs = await scheduledRuns(observer)
      const keys = runs.map((run) => run.idempotencyKey)
      expect(new Set(keys).size).toBe(keys.length)
      const completed = runs.filter((run) => run.status === 'completed')
      expect(executed).toHaveLength(completed.length)
      for (const run of completed) expect(run.payload).toEqual({ source: 'cron' })
      // Ticks are whole seconds; a tick claimed late skips the ones it overran, never repeats.
      const ticks = keys.map((key) => Date.parse(key!.slice('schedule:tick:'.length)))
      for (const tick of ticks) expect(tick % 1000).toBe(0)
    })
  })

  describe('a tick whose run went missing', () => {
    it('is created again by a live worker within a polling interval, not at the next start', async () => {
      const durably = harness().make()
      durably.register({ tick: tickJob([], '0 3 * * *') })
      await durably.init()
      const [first] = await waitUntil(async () => {
        const runs = await scheduledRuns(durably)
        return runs.length === 1 ? runs : undefined
      })
      // As if the process that should have created it died first.
      await durably.cancel(first!.id)
      await durably.deleteRun(first!.id)
      const [again] = await waitUntil(
        async () => {
          const runs = await scheduledRuns(durably)
          return runs.length === 1 ? runs : undefined
        },
        { what: 'the next tick to be created again' },
      )
      expect(again?.idempotencyKey).toBe(first?.idempotencyKey)
      expect(again?.status).toBe('pending')
    })
  })

  describe('after an outage', () => {
    it('runs one catch-up run for the missed ticks, not one per tick, and pre-creates the next', async () => {
      const h = harness()
      const durably = h.make()
      durably.register({ tick: tickJob([], '* * * * *') })
      await durably.migrate()
      // The last tick that ran was ten minutes ago; nine more passed while nothing ran.
      const minute = 60_000
      const lastTick = new Date(Math.floor(Date.now() / minute) * minute - 10 * minute)
      const seed = await durably.storage.createRun({
        jobName: 'tick',
        payload: { source: 'cron' },
        idempotencyKey: `schedule:tick:${lastTick.toISOString()}`,
      })
      await durably.storage.updateRun(seed.id, { status: 'completed' })
      await durably.init()
      await waitUntil(async () => (await scheduledRuns(durably)).length === 3, {
        what: 'the catch-up run and the next tick',
      })
      await waitUntil(
        async () =>
          (await scheduledRuns(durably)).filter((run) => run.status === 'completed').length === 2,
        { what: 'the catch-up run to complete' },
      )
      const runs = await scheduledRuns(durably)
      const pending = runs.filter((run) => run.status === 'pending')
      expect(pending).toHaveLength(1)
      expect(pending[0]?.waitingFor?.kind).toBe('delay')
      expect(Date.parse(pending[0]!.availableAt!)).toBeGreaterThan(Date.now())
    })
  })
}
