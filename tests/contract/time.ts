/**
 * The contract of time: delayed starts and durable sleeps, on every backend. A waiting run
 * is `pending` with `availableAt` and `waitingFor`; it holds no worker while it waits, and
 * the worker's timer (not its polling) wakes it. No test sleeps blindly: each waits for an
 * event or polls the database with a deadline.
 */
import { sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineJob, InvalidArgumentError, ValidationError } from '../../src/index.js'
import { gate, nextEvent, waitUntil } from '../support/wait.js'
import { echoJob, type Harness } from './harness.js'

/**
 * Polling slow enough that only the worker's own timer explains a prompt wake-up, and fast
 * enough that a missed timer costs seconds, not the test (a wake-up once slept a whole
 * interval when a run fell due between the empty claim and the wake-up query; fixed in the
 * worker, e05a1b9).
 */
const NO_POLLING = { pollingInterval: 5_000 }

export function defineTimeSuite(harness: () => Harness): void {
  describe('trigger({ delay, runAt })', () => {
    it('stores a delayed run as pending with availableAt and a delay wait, not started', async () => {
      const durably = harness().make()
      const { echo } = durably.register({ echo: echoJob })
      const before = Date.now()
      const run = await echo.trigger({ value: 'later' }, { delay: 60_000 })
      expect(run.status).toBe('pending')
      expect(Date.parse(run.availableAt!)).toBeGreaterThanOrEqual(before + 60_000)
      expect(run.waitingFor).toEqual({ kind: 'delay', until: run.availableAt })
      expect(await durably.processOne()).toBe(false)
      expect((await durably.getRun(run.id))?.status).toBe('pending')
    })

    it('starts a delayed run at its time, woken by the timer rather than a poll', async () => {
      const durably = harness().make(NO_POLLING)
      const { echo } = durably.register({ echo: echoJob })
      await durably.init()
      const run = await echo.trigger({ value: 'soon' }, { delay: 150 })
      const completed = await nextEvent(durably, 'run:complete', (e) => e.runId === run.id)
      expect(Date.parse(completed.timestamp)).toBeGreaterThanOrEqual(Date.parse(run.availableAt!))
      expect((await durably.getRun(run.id))?.waitingFor).toBeNull()
    })

    it('starts a run at runAt, given as a Date or an ISO string', async () => {
      const durably = harness().make(NO_POLLING)
      const { echo } = durably.register({ echo: echoJob })
      await durably.init()
      const at = new Date(Date.now() + 100)
      const [a, b] = await Promise.all([
        echo.trigger({ value: 'a' }, { runAt: at }),
        echo.trigger({ value: 'b' }, { runAt: at.toISOString() }),
      ])
      expect(a.availableAt).toBe(at.toISOString())
      expect(b.availableAt).toBe(at.toISOString())
      await waitUntil(async () => (await durably.getRuns({ status: 'completed' })).length === 2, {
        what: 'both runs to complete',
      })
    })

    it('runs a runAt in the past at once, waiting for nothing', async () => {
      const durably = harness().make()
      const { echo } = durably.register({ echo: echoJob })
      const run = await echo.trigger({ value: 'now' }, { runAt: new Date(Date.now() - 1000) })
      expect(run.waitingFor).toBeNull()
      expect(await durably.processOne()).toBe(true)
    })

    it('delays each batchTrigger item by its own options', async () => {
      const durably = harness().make()
      const { echo } = durably.register({ echo: echoJob })
      const [now, later] = await echo.batchTrigger([
        { value: 'now' },
        { input: { value: 'later' }, options: { delay: 60_000 } },
      ])
      expect(now?.waitingFor).toBeNull()
      expect(later?.waitingFor?.kind).toBe('delay')
      expect(await durably.processOne()).toBe(true)
      expect(await durably.processOne()).toBe(false)
    })

    it.each([
      ['a negative delay', { delay: -1 }],
      ['a NaN delay', { delay: Number.NaN }],
      ['an infinite delay', { delay: Number.POSITIVE_INFINITY }],
      ['a delay that is a string', { delay: '10' }],
      ['a runAt that is not a date', { runAt: 'tomorrow' }],
      ['both delay and runAt', { delay: 10, runAt: new Date() }],
    ])('refuses %s with ValidationError, storing nothing', async (_, options) => {
      const durably = harness().make()
      const { echo } = durably.register({ echo: echoJob })
      await expect(echo.trigger({ value: 'x' }, options as never)).rejects.toThrow(ValidationError)
      expect(await durably.getRuns()).toEqual([])
    })
  })

  describe('step.sleep() and step.sleepUntil()', () => {
    function sleeperJob(name: string, ms: number, executions: string[]) {
      return defineJob({
        name,
        input: z.object({}),
        run: async (step) => {
          await step.run('before', () => executions.push('before'))
          await step.sleep('nap', ms)
          await step.run('after', () => executions.push('after'))
          return { done: true }
        },
      })
    }

    it('hands the worker back while sleeping: with concurrency 1 another run completes meanwhile', async () => {
      const durably = harness().make({ ...NO_POLLING, concurrency: 1 })
      const executions: string[] = []
      const { sleeper, echo } = durably.register({
        // Long enough that a slow machine finishes the other run before the sleep ends.
        sleeper: sleeperJob('sleeper', 2_500, executions),
        echo: echoJob,
      })
      await durably.init()
      const sleeping = await sleeper.trigger({})
      const waited = await nextEvent(durably, 'run:wait', (e) => e.runId === sleeping.id)
      expect(waited.waitingFor).toMatchObject({ kind: 'sleep', step: 'nap' })
      const asleep = await durably.getRun(sleeping.id)
      expect(asleep).toMatchObject({
        status: 'pending',
        waitingFor: { kind: 'sleep', step: 'nap' },
      })
      expect(asleep?.availableAt).toBe(waited.waitingFor.until)

      const other = await echo.trigger({ value: 'meanwhile' })
      await nextEvent(durably, 'run:complete', (e) => e.runId === other.id)
      expect((await durably.getRun(sleeping.id))?.status).toBe('pending')

      await nextEvent(durably, 'run:complete', (e) => e.runId === sleeping.id, 15_000)
      expect(executions).toEqual(['before', 'after'])
      const steps = await durably.getSteps(sleeping.id)
      expect(steps.map((step) => step.name)).toEqual(['before', 'nap', 'after'])
      expect(steps[1]?.output).toEqual({ until: waited.waitingFor.until })
    })

    it('resumes in another worker (another process) after the sleep', async () => {
      const h = harness()
      const executions: string[] = []
      const first = h.make()
      const { sleeper } = first.register({ sleeper: sleeperJob('sleeper', 100, executions) })
      const run = await sleeper.trigger({})
      expect(await first.processOne()).toBe(true)
      expect((await first.getRun(run.id))?.status).toBe('pending')
      await first.stop()

      const second = h.make(NO_POLLING, h.database.secondDialect())
      second.register({ sleeper: sleeperJob('sleeper', 100, executions) })
      await second.init()
      await waitUntil(async () => (await second.getRun(run.id))?.status === 'completed', {
        what: 'the sleeping run to complete in the second worker',
      })
      expect(executions).toEqual(['before', 'after'])
    })

    it('makes two sleeps of one name used twice, matched by occurrence', async () => {
      const durably = harness().make(NO_POLLING)
      const { twice } = durably.register({
        twice: defineJob({
          name: 'twice',
          input: z.object({}),
          run: async (step) => {
            await step.sleep('nap', 30)
            await step.sleep('nap', 30)
          },
        }),
      })
      await durably.init()
      const run = await twice.trigger({})
      await nextEvent(durably, 'run:complete', (e) => e.runId === run.id)
      const naps = (await durably.getSteps(run.id)).filter((step) => step.name === 'nap')
      expect(naps).toHaveLength(2)
      expect(naps.map((step) => step.index)).toEqual([0, 1])
    })

    it('returns at once on replay once the recorded time has passed, without sleeping again', async () => {
      const durably = harness().make()
      let fail = true
      const { flaky } = durably.register({
        flaky: defineJob({
          name: 'flaky',
          input: z.object({}),
          run: async (step) => {
            await step.sleepUntil('past', new Date(Date.now() + 50))
            await step.run('maybe', () => {
              if (fail) throw new Error('not yet')
            })
          },
        }),
      })
      const run = await flaky.trigger({})
      expect(await durably.processOne()).toBe(true)
      await waitUntil(() => durably.processOne(), { what: 'the sleep to end' })
      expect((await durably.getRun(run.id))?.status).toBe('failed')
      fail = false
      await durably.retry(run.id)
      expect(await durably.processOne()).toBe(true)
      expect((await durably.getRun(run.id))?.status).toBe('completed')
      expect((await durably.getSteps(run.id)).filter((s) => s.name === 'past')).toHaveLength(1)
    })

    it('keeps the recorded wake-up time when the code asks for another on replay', async () => {
      const durably = harness().make()
      let ms = 100
      const { moving } = durably.register({
        moving: defineJob({
          name: 'moving',
          input: z.object({}),
          run: async (step) => {
            await step.sleep('nap', ms)
          },
        }),
      })
      const run = await moving.trigger({})
      await durably.processOne()
      const recorded = (await durably.getRun(run.id))?.availableAt
      ms = 3_600_000
      await waitUntil(() => durably.processOne(), { what: 'the recorded sleep to end' })
      expect((await durably.getRun(run.id))?.status).toBe('completed')
      expect((await durably.getSteps(run.id))[0]?.output).toEqual({ until: recorded })
    })

    it('cannot put a run to sleep after losing its lease', async () => {
      const durably = harness().make()
      const held = gate()
      const reached = gate()
      const { lost } = durably.register({
        lost: defineJob({
          name: 'lost',
          input: z.object({}),
          run: async (step) => {
            reached.open()
            await held.promise
            await step.sleep('nap', 60_000)
          },
        }),
      })
      const run = await lost.trigger({})
      const processing = durably.processOne()
      await reached.promise
      // Another worker recovered the run meanwhile: its lease generation moved on.
      await durably.db
        .updateTable('durably_runs')
        .set({ lease_generation: sql<number>`lease_generation + 1` })
        .where('id', '=', run.id)
        .execute()
      held.open()
      await processing
      expect(await durably.getSteps(run.id)).toEqual([])
      expect((await durably.getRun(run.id))?.status).toBe('running')
    })

    it('sleeps longer than a JavaScript timer can wait, without firing early', async () => {
      const durably = harness().make()
      const { long } = durably.register({
        long: defineJob({
          name: 'long',
          input: z.object({}),
          run: async (step) => {
            await step.sleep('forty-days', 40 * 24 * 3600 * 1000)
          },
        }),
      })
      await durably.init()
      const run = await long.trigger({})
      await nextEvent(durably, 'run:wait', (e) => e.runId === run.id)
      expect(Date.parse((await durably.getRun(run.id))!.availableAt!)).toBeGreaterThan(
        Date.now() + 2 ** 31,
      )
      expect(await durably.processOne()).toBe(false)
      expect((await durably.getRun(run.id))?.status).toBe('pending')
    })

    it.each([
      ['a negative duration', (step: StepLike) => step.sleep('nap', -1)],
      ['a NaN duration', (step: StepLike) => step.sleep('nap', Number.NaN)],
      ['an empty name', (step: StepLike) => step.sleep('', 10)],
      ['a date that is not one', (step: StepLike) => step.sleepUntil('nap', 'soon')],
    ])('fails the run for %s with InvalidArgumentError', async (_, sleep) => {
      const durably = harness().make()
      let caught: unknown
      const { bad } = durably.register({
        bad: defineJob({
          name: 'bad',
          input: z.object({}),
          run: async (step) => {
            try {
              await sleep(step)
            } catch (error) {
              caught = error
              throw error
            }
          },
        }),
      })
      const run = await bad.trigger({})
      await durably.processOne()
      expect(caught).toBeInstanceOf(InvalidArgumentError)
      expect((await durably.getRun(run.id))?.status).toBe('failed')
    })
  })
}

type StepLike = {
  sleep(name: string, ms: number): Promise<void>
  sleepUntil(name: string, until: Date | string): Promise<void>
}
