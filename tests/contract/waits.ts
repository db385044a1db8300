/**
 * The contract of waiting for the world: events, signals and child jobs, on every backend.
 * A waiting run is `pending` with `waitingFor` and holds no worker; what it waits for wakes
 * it. No test sleeps blindly: each waits for an event or polls the database with a deadline.
 */
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  CancelledError,
  ConflictError,
  defineJob,
  InvalidArgumentError,
  NotFoundError,
  SerializationError,
} from '../../src/index.js'
import { nextEvent, waitUntil } from '../support/wait.js'
import { echoJob, type Harness } from './harness.js'

function approvalJob(name = 'approval', timeout?: number) {
  return defineJob({
    name,
    input: z.object({ orderId: z.string() }),
    run: async (step, { orderId }) => {
      const approval = await step.waitForEvent('approved', {
        event: 'order/approved',
        match: { orderId },
        ...(timeout === undefined ? {} : { timeout }),
        schema: z.object({ orderId: z.string(), by: z.string() }),
      })
      const after = await step.run('after', () => 'done')
      return { by: approval?.by ?? null, after }
    },
  })
}

const childJob = defineJob({
  name: 'child',
  input: z.object({ n: z.number(), fail: z.boolean().optional() }),
  run: async (step, { n, fail }) => {
    const doubled = await step.run('double', () => {
      if (fail) throw new Error(`child ${n} refused`)
      return n * 2
    })
    return { doubled }
  },
})

/** A child that sleeps for an hour: it is still unfinished whenever a test looks. */
const sleepyChildJob = defineJob({
  name: 'child',
  input: z.object({ n: z.number() }),
  run: async (step) => {
    await step.sleep('forever', 3_600_000)
    return { doubled: 0 }
  },
})

const parentJob = defineJob({
  name: 'parent',
  input: z.object({ n: z.number(), fail: z.boolean().optional(), timeout: z.number().optional() }),
  run: async (step, { n, fail, timeout }) => {
    const result = await step.invoke(
      'child',
      childJob,
      { n, ...(fail ? { fail } : {}) },
      timeout === undefined ? undefined : { timeout },
    )
    const plusOne = await step.run('plus-one', () => result.doubled + 1)
    return { plusOne }
  },
})

export function defineWaitSuite(harness: () => Harness): void {
  describe('step.waitForEvent and sendEvent', () => {
    it('resumes a waiting run with the matching event data, holding no worker meanwhile', async () => {
      const durably = harness().make({ concurrency: 1 })
      const { approval, echo } = durably.register({ approval: approvalJob(), echo: echoJob })
      await durably.init()
      const run = await approval.trigger({ orderId: 'o1' })
      const waited = await nextEvent(durably, 'run:wait', (e) => e.runId === run.id)
      expect(waited.waitingFor).toMatchObject({
        kind: 'event',
        step: 'approved',
        event: 'order/approved',
        match: { orderId: 'o1' },
      })
      const pending = await durably.getRun(run.id)
      expect(pending).toMatchObject({ status: 'pending', availableAt: null })
      // With one worker slot, another run completes while this one waits.
      await echo.triggerAndWait({ value: 'meanwhile' })

      const sent = await durably.sendEvent('order/approved', { orderId: 'o1', by: 'ana' })
      expect(sent.duplicate).toBe(false)
      const done = await nextEvent(durably, 'run:complete', (e) => e.runId === run.id)
      expect(done.output).toEqual({ by: 'ana', after: 'done' })
      const steps = await durably.getSteps(run.id)
      expect(steps.map((step) => step.name)).toEqual(['approved', 'after'])
      expect(steps[0]?.output).toEqual({ eventId: sent.id, data: { orderId: 'o1', by: 'ana' } })
    })

    it('does not miss an event sent after the trigger and before the wait', async () => {
      const durably = harness().make()
      const { approval } = durably.register({ approval: approvalJob() })
      await durably.migrate()
      const run = await approval.trigger({ orderId: 'early' })
      await durably.sendEvent('order/approved', { orderId: 'early', by: 'bo' })
      await durably.init()
      const done = await nextEvent(durably, 'run:complete', (e) => e.runId === run.id)
      expect(done.output).toEqual({ by: 'bo', after: 'done' })
    })

    it('leaves a run waiting for events that do not match, and wakes it for one that does', async () => {
      const durably = harness().make()
      const { approval } = durably.register({ approval: approvalJob() })
      await durably.init()
      const run = await approval.trigger({ orderId: 'o2' })
      await nextEvent(durably, 'run:wait', (e) => e.runId === run.id)
      await durably.sendEvent('order/approved', { orderId: 'other', by: 'x' })
      await durably.sendEvent('order/rejected', { orderId: 'o2', by: 'x' })
      // Neither event woke it: still waiting, nothing due.
      const still = await durably.getRun(run.id)
      expect(still).toMatchObject({ status: 'pending', availableAt: null })
      expect(await durably.processOne()).toBe(false)
      await durably.sendEvent('order/approved', { orderId: 'o2', by: 'cy' })
      const done = await nextEvent(durably, 'run:complete', (e) => e.runId === run.id)
      expect(done.output).toEqual({ by: 'cy', after: 'done' })
    })

    it('wakes every run waiting for one event', async () => {
      const durably = harness().make()
      const { approval } = durably.register({ approval: approvalJob() })
      await durably.init()
      const runs = await Promise.all([
        approval.trigger({ orderId: 'shared' }),
        approval.trigger({ orderId: 'shared' }),
      ])
      await waitUntil(async () => {
        const all = await Promise.all(runs.map((run) => durably.getRun(run.id)))
        return all.every((run) => run?.waitingFor?.kind === 'event')
      })
      await durably.sendEvent('order/approved', { orderId: 'shared', by: 'dee' })
      await waitUntil(async () => {
        const all = await Promise.all(runs.map((run) => durably.getRun(run.id)))
        return all.every((run) => run?.status === 'completed')
      })
    })

    it('resolves null after the timeout, and a later event is not taken by that wait', async () => {
      const durably = harness().make()
      const { approval } = durably.register({ approval: approvalJob('approval', 150) })
      await durably.init()
      const run = await approval.trigger({ orderId: 'late' })
      const waited = await nextEvent(durably, 'run:wait', (e) => e.runId === run.id)
      expect(waited.waitingFor).toMatchObject({ kind: 'event' })
      expect('until' in waited.waitingFor && waited.waitingFor.until).toBeTruthy()
      const done = await nextEvent(durably, 'run:complete', (e) => e.runId === run.id)
      expect(done.output).toEqual({ by: null, after: 'done' })
      await durably.sendEvent('order/approved', { orderId: 'late', by: 'too-late' })
      const steps = await durably.getSteps(run.id)
      expect(steps[0]?.output).toEqual({ eventId: null, timedOut: true })
      expect((await durably.getRun(run.id))?.output).toEqual({ by: null, after: 'done' })
    })

    it('stores and wakes once for an event sent twice with one id', async () => {
      const durably = harness().make()
      const seen: unknown[] = []
      const { twice } = durably.register({
        twice: defineJob({
          name: 'twice',
          input: z.object({}),
          run: async (step) => {
            seen.push(await step.waitForEvent('first', { event: 'hook' }))
            seen.push(await step.waitForEvent('second', { event: 'hook', timeout: 200 }))
            return null
          },
        }),
      })
      await durably.init()
      const run = await twice.trigger({})
      await nextEvent(durably, 'run:wait', (e) => e.runId === run.id)
      const first = await durably.sendEvent('hook', { n: 1 }, { id: 'delivery-1' })
      const again = await durably.sendEvent('hook', { n: 1 }, { id: 'delivery-1' })
      expect(first).toEqual({ id: 'delivery-1', duplicate: false })
      expect(again).toEqual({ id: 'delivery-1', duplicate: true })
      await nextEvent(durably, 'run:complete', (e) => e.runId === run.id)
      const steps = await durably.getSteps(run.id)
      expect(steps.map((step) => step.output)).toEqual([
        { eventId: 'delivery-1', data: { n: 1 } },
        { eventId: null, timedOut: true },
      ])
    })

    it('gives two waits for one name two different events, oldest first', async () => {
      const durably = harness().make()
      const { pair } = durably.register({
        pair: defineJob({
          name: 'pair',
          input: z.object({}),
          run: async (step) => {
            const a = await step.waitForEvent('a', { event: 'item' })
            const b = await step.waitForEvent('b', { event: 'item' })
            return [a, b]
          },
        }),
      })
      await durably.migrate()
      const run = await pair.trigger({})
      await durably.sendEvent('item', { n: 1 })
      await durably.sendEvent('item', { n: 2 })
      await durably.init()
      const done = await nextEvent(durably, 'run:complete', (e) => e.runId === run.id)
      expect(done.output).toEqual([{ n: 1 }, { n: 2 }])
    })

    it('fails the wait with ValidationError when the data does not fit the schema', async () => {
      const durably = harness().make()
      const { approval } = durably.register({ approval: approvalJob() })
      await durably.init()
      const run = await approval.trigger({ orderId: 'bad' })
      await nextEvent(durably, 'run:wait', (e) => e.runId === run.id)
      await durably.sendEvent('order/approved', { orderId: 'bad', by: 42 })
      const failed = await nextEvent(durably, 'run:fail', (e) => e.runId === run.id)
      expect(failed.error).toMatch(/order\/approved.*invalid/)
    })

    it('emits event:send and event:receive', async () => {
      const durably = harness().make()
      const { approval } = durably.register({ approval: approvalJob() })
      await durably.init()
      const run = await approval.trigger({ orderId: 'ev' })
      await nextEvent(durably, 'run:wait', (e) => e.runId === run.id)
      const sending = nextEvent(durably, 'event:send')
      const receiving = nextEvent(durably, 'event:receive', (e) => e.runId === run.id)
      const sent = await durably.sendEvent('order/approved', { orderId: 'ev', by: 'e' })
      expect(await sending).toMatchObject({
        eventId: sent.id,
        event: 'order/approved',
        targetRunId: null,
        duplicate: false,
      })
      expect(await receiving).toMatchObject({
        stepName: 'approved',
        eventId: sent.id,
        jobName: 'approval',
      })
    })

    it('rejects bad sends with a typed error and stores nothing', async () => {
      const durably = harness().make()
      await durably.migrate()
      await expect(durably.sendEvent('', {})).rejects.toThrow(InvalidArgumentError)
      await expect(durably.sendEvent(42 as never, {})).rejects.toThrow(InvalidArgumentError)
      await expect(durably.sendEvent('x', undefined)).rejects.toThrow(InvalidArgumentError)
      await expect(durably.sendEvent('x', null)).rejects.toThrow(/null/)
      await expect(durably.sendEvent('x', { n: 1n })).rejects.toThrow(SerializationError)
      await expect(durably.sendEvent('x', {}, { idd: 'typo' } as never)).rejects.toThrow(
        /unknown option "idd"/,
      )
      const rows = await harness().database.exec('SELECT COUNT(*) AS n FROM durably_events')
      expect(Number(rows[0]?.n)).toBe(0)
    })

    it.each([
      ['a match that is not a plain object', { event: 'e', match: [1] }],
      ['a negative timeout', { event: 'e', timeout: -1 }],
      ['a missing event name', { event: '' }],
      ['an unknown option', { event: 'e', timout: 5 }],
    ])('fails the run with InvalidArgumentError for %s', async (_, options) => {
      const durably = harness().make()
      const { bad } = durably.register({
        bad: defineJob({
          name: 'bad',
          input: z.object({}),
          run: async (step) => step.waitForEvent('w', options as never),
        }),
      })
      await durably.init()
      const run = await bad.trigger({})
      const failed = await nextEvent(durably, 'run:fail', (e) => e.runId === run.id)
      expect(failed.error).toMatch(/step\.waitForEvent\("w"\)/)
    })
  })

  describe('signal', () => {
    it('keeps a signal sent before the run waits, for that run only', async () => {
      const durably = harness().make()
      const waiter = defineJob({
        name: 'waiter',
        input: z.object({}),
        run: async (step) => step.waitForEvent('ok', { event: 'approval', timeout: 30_000 }),
      })
      const { w } = durably.register({ w: waiter })
      await durably.migrate()
      const addressed = await w.trigger({})
      const other = await w.trigger({})
      await durably.signal(addressed.id, 'approval', { ok: true })
      await durably.init()
      const done = await nextEvent(durably, 'run:complete', (e) => e.runId === addressed.id)
      expect(done.output).toEqual({ ok: true })
      const waiting = await waitUntil(async () => {
        const run = await durably.getRun(other.id)
        return run?.waitingFor?.kind === 'event' ? run : undefined
      })
      expect(waiting.status).toBe('pending')
    })

    it('wakes a run already waiting', async () => {
      const durably = harness().make()
      const { approval } = durably.register({ approval: approvalJob() })
      await durably.init()
      const run = await approval.trigger({ orderId: 's1' })
      await nextEvent(durably, 'run:wait', (e) => e.runId === run.id)
      const sent = await durably.signal(run.id, 'order/approved', { orderId: 's1', by: 'sig' })
      const done = await nextEvent(durably, 'run:complete', (e) => e.runId === run.id)
      expect(done.output).toEqual({ by: 'sig', after: 'done' })
      expect((await durably.getSteps(run.id))[0]?.output).toMatchObject({ eventId: sent.id })
    })

    it('answers NotFoundError for a missing run and ConflictError for a finished one', async () => {
      const durably = harness().make()
      const { echo } = durably.register({ echo: echoJob })
      await durably.init()
      await expect(durably.signal('missing', 'x', {})).rejects.toThrow(NotFoundError)
      const { id } = await echo.triggerAndWait({ value: 'v' })
      await expect(durably.signal(id, 'x', {})).rejects.toThrow(ConflictError)
    })
  })

  describe('step.invoke', () => {
    it('runs the child and resumes the parent with its output, holding no worker meanwhile', async () => {
      // One slot: the child can only run because the waiting parent gave it back.
      const durably = harness().make({ concurrency: 1 })
      const { parent } = durably.register({ parent: parentJob, child: childJob })
      await durably.init()
      const started = nextEvent(durably, 'child:start')
      const finished = nextEvent(durably, 'child:finish')
      const result = await parent.triggerAndWait({ n: 20 })
      expect(result.output).toEqual({ plusOne: 41 })
      const children = await durably.getRuns({ parentRunId: result.id })
      expect(children).toHaveLength(1)
      expect(children[0]).toMatchObject({
        jobName: 'child',
        status: 'completed',
        parentRunId: result.id,
        output: { doubled: 40 },
      })
      expect(await started).toMatchObject({ runId: result.id, childRunId: children[0]!.id })
      expect(await finished).toMatchObject({ childRunId: children[0]!.id, status: 'completed' })
      expect((await durably.getRun(result.id))?.parentRunId).toBeNull()
    })

    it('shows the parent waiting for its child while the child runs', async () => {
      const durably = harness().make()
      const { parent } = durably.register({ parent: parentJob, child: childJob })
      await durably.migrate()
      const run = await parent.trigger({ n: 1 })
      // The parent alone: it creates the child and suspends.
      expect(await durably.processOne()).toBe(true)
      const waiting = await durably.getRun(run.id)
      const [child] = await durably.getRuns({ parentRunId: run.id })
      expect(waiting?.status).toBe('pending')
      expect(waiting?.waitingFor).toEqual({
        kind: 'child',
        step: 'child',
        stepIndex: 0,
        runId: child!.id,
        jobName: 'child',
      })
      // Another instance (another connection) finishes both.
      const other = harness().make({}, harness().database.secondDialect())
      other.register({ parent: parentJob, child: childJob })
      await other.init()
      await waitUntil(async () => (await durably.getRun(run.id))?.status === 'completed')
      expect(await durably.getRuns({ parentRunId: run.id })).toHaveLength(1)
    })

    it("fails the parent's step with the child's error", async () => {
      const durably = harness().make()
      const { parent } = durably.register({ parent: parentJob, child: childJob })
      await durably.init()
      const run = await parent.trigger({ n: 3, fail: true })
      const failed = await nextEvent(durably, 'run:fail', (e) => e.runId === run.id)
      expect(failed.error).toBe('child 3 refused')
      const steps = await durably.getSteps(run.id)
      expect(steps).toMatchObject([{ name: 'child', status: 'failed', error: 'child 3 refused' }])
    })

    it('cancels the child and fails the step with TimeoutError after the timeout', async () => {
      const durably = harness().make()
      const { parent } = durably.register({ parent: parentJob, child: sleepyChildJob })
      await durably.init()
      const run = await parent.trigger({ n: 1, timeout: 150 })
      const failed = await nextEvent(durably, 'run:fail', (e) => e.runId === run.id)
      expect(failed.error).toMatch(/did not finish within 150 ms/)
      const [child] = await durably.getRuns({ parentRunId: run.id })
      expect(child?.status).toBe('cancelled')
    })

    it('cancelling the parent cancels its unfinished children', async () => {
      const durably = harness().make()
      const { parent } = durably.register({ parent: parentJob, child: sleepyChildJob })
      await durably.init()
      const run = await parent.trigger({ n: 1 })
      const child = await waitUntil(async () => {
        const [found] = await durably.getRuns({ parentRunId: run.id })
        return found?.waitingFor?.kind === 'sleep' ? found : undefined
      })
      await durably.cancel(run.id)
      expect((await durably.getRun(child.id))?.status).toBe('cancelled')
    })

    it('fails the run clearly when the invoked job is not registered', async () => {
      const durably = harness().make()
      const { parent } = durably.register({ parent: parentJob })
      await durably.init()
      const run = await parent.trigger({ n: 1 })
      const failed = await nextEvent(durably, 'run:fail', (e) => e.runId === run.id)
      expect(failed.error).toMatch(/job "child" is not registered/)
      expect(await durably.getRuns({ parentRunId: run.id })).toEqual([])
    })

    it('rejects a bad parentRunId filter', async () => {
      const durably = harness().make()
      await expect(durably.getRuns({ parentRunId: '' })).rejects.toThrow(InvalidArgumentError)
    })

    it('rejects with CancelledError when the child is cancelled', async () => {
      const durably = harness().make()
      const seen: unknown[] = []
      const { watcher } = durably.register({
        child: sleepyChildJob,
        watcher: defineJob({
          name: 'watcher',
          input: z.object({}),
          run: async (step) => {
            try {
              await step.invoke('child', sleepyChildJob, { n: 1 })
            } catch (error) {
              seen.push(error)
            }
            return null
          },
        }),
      })
      await durably.init()
      const run = await watcher.trigger({})
      const child = await waitUntil(async () => {
        const [found] = await durably.getRuns({ parentRunId: run.id })
        return found?.waitingFor?.kind === 'sleep' ? found : undefined
      })
      await durably.cancel(child.id)
      await nextEvent(durably, 'run:complete', (e) => e.runId === run.id)
      // Earlier executions caught their own suspension too; the last caught the child's end.
      expect(seen.at(-1)).toBeInstanceOf(CancelledError)
    })
  })
}
