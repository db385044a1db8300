/**
 * The contract of flow control, on every backend: concurrency limits per job and per key,
 * throttling, debouncing, priority, and `blockedBy`. The database enforces each rule, so two
 * instances on one database obey it together. No test sleeps blindly: each waits for an
 * event or polls the database with a deadline, and long periods are read from what the
 * database recorded (a moved start time), never waited out.
 */
import { sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  type Durably,
  defineJob,
  InvalidArgumentError,
  type Run,
  ValidationError,
} from '../../src/index.js'
import { gate, nextEvent, waitUntil } from '../support/wait.js'
import type { Harness } from './harness.js'

/**
 * Leases that cannot expire while a test holds a body open: a takeover (allowed when a lease
 * lapses, as under a loaded browser's late timers) would run a body twice and look like a
 * broken limit. Takeovers are the lease-loss tests' business.
 */
const PATIENT = { heartbeatInterval: 200, staleThreshold: 60_000 } as const

/** A job whose one step waits for `held.open()`, counting how many bodies run at once. */
function limitedJob(options: Record<string, unknown>) {
  const held = gate()
  const seen = { inside: 0, most: 0, started: [] as string[] }
  const job = defineJob({
    name: 'limited',
    input: z.object({ tenant: z.string(), n: z.number() }),
    ...options,
    run: async (step, { tenant, n }) => {
      await step.run('work', async () => {
        seen.inside++
        seen.most = Math.max(seen.most, seen.inside)
        seen.started.push(`${tenant}${n}`)
        await held.promise
        seen.inside--
      })
      return null
    },
  })
  return { job, held, seen }
}

const quickJob = (options: Record<string, unknown>) =>
  defineJob({
    name: 'quick',
    input: z.object({ n: z.number(), tenant: z.string().optional() }),
    ...options,
    run: async (step, { n }) => step.run('n', () => n),
  })

async function statuses(durably: Durably, ids: readonly string[]): Promise<string[]> {
  return Promise.all(ids.map(async (id) => (await durably.getRun(id))?.status ?? 'missing'))
}

async function untilAllCompleted(
  durably: Durably,
  ids: readonly string[],
  what: string,
): Promise<void> {
  await waitUntil(async () => (await statuses(durably, ids)).every((s) => s === 'completed'), {
    what,
  })
}

async function parkedCount(durably: Durably): Promise<number> {
  const result = await sql<{ count: number | string }>`
    SELECT COUNT(*) AS count FROM durably_runs WHERE parked_from IS NOT NULL`.execute(durably.db)
  return Number(result.rows[0]?.count ?? 0)
}

export function defineFlowSuite(harness: () => Harness): void {
  describe('concurrency: { limit, key }', () => {
    it('runs at most `limit` runs of the job at once across two instances', async () => {
      const { job, held, seen } = limitedJob({ concurrency: { limit: 2 } })
      const first = harness().make({ ...PATIENT, concurrency: 4 })
      const second = harness().make({ ...PATIENT, concurrency: 4 })
      const handles = first.register({ job })
      second.register({ job })
      await first.init()
      await second.init()
      const runs = await Promise.all(
        [0, 1, 2, 3, 4].map((n) => handles.job.trigger({ tenant: 't', n })),
      )
      first.start()
      second.start()
      await waitUntil(() => seen.inside === 2, { what: 'two bodies running' })
      // Both instances have free slots and poll: give them rounds to break the limit.
      await waitUntil(async () => (await parkedCount(first)) === 3, { what: 'three parked' })
      expect(
        (
          await statuses(
            first,
            runs.map((run) => run.id),
          )
        ).sort(),
      ).toEqual(['pending', 'pending', 'pending', 'running', 'running'])
      held.open()
      await untilAllCompleted(
        first,
        runs.map((run) => run.id),
        'every run completed',
      )
      expect(seen.most).toBe(2)
      expect(await parkedCount(first)).toBe(0)
    })

    it('limits each key apart: one key waits while another runs', async () => {
      const { job, held, seen } = limitedJob({
        concurrency: { limit: 1, key: (input: { tenant: string }) => input.tenant },
      })
      const durably = harness().make({ ...PATIENT, concurrency: 4 })
      const { job: handle } = durably.register({ job })
      await durably.init()
      const a1 = await handle.trigger({ tenant: 'a', n: 1 })
      const a2 = await handle.trigger({ tenant: 'a', n: 2 })
      const b1 = await handle.trigger({ tenant: 'b', n: 1 })
      durably.start()
      await waitUntil(() => seen.inside === 2, { what: 'a1 and b1 running' })
      expect(await statuses(durably, [a1.id, a2.id, b1.id])).toEqual([
        'running',
        'pending',
        'running',
      ])
      expect((await durably.getRun(a2.id))?.concurrencyKey).toBe('limited:a')
      held.open()
      await untilAllCompleted(durably, [a1.id, a2.id, b1.id], 'all completed')
      expect(seen.started).toEqual(['a1', 'b1', 'a2'])
    })

    it('parks runs behind a full key and wakes the oldest when a slot frees', async () => {
      const { job, held, seen } = limitedJob({ concurrency: { limit: 1 } })
      const durably = harness().make({ ...PATIENT, concurrency: 1 })
      const { job: handle } = durably.register({ job })
      await durably.init()
      durably.start()
      const first = await handle.trigger({ tenant: 't', n: 1 })
      await waitUntil(() => seen.inside === 1, { what: 'the first run in its step' })
      const later = [
        await handle.trigger({ tenant: 't', n: 2 }),
        await handle.trigger({ tenant: 't', n: 3 }),
      ]
      expect(await parkedCount(durably)).toBe(2)
      const parked = await durably.getRun(later[0]!.id)
      // Parked or not, a run says when it became due: its trigger time.
      expect(parked?.availableAt).toBe(later[0]!.createdAt)
      const started = nextEvent(durably, 'run:start', (e) => e.runId !== first.id)
      held.open()
      expect((await started).runId).toBe(later[0]!.id)
      await untilAllCompleted(
        durably,
        later.map((run) => run.id),
        'parked runs completed',
      )
      expect(await parkedCount(durably)).toBe(0)
    })

    it('gives the slot back while a run sleeps', async () => {
      const sleeper = defineJob({
        name: 'sleeper',
        input: z.object({ n: z.number() }),
        concurrency: { limit: 1 },
        run: async (step, { n }) => {
          if (n === 1) await step.sleep('nap', 3_600_000)
          return n
        },
      })
      const durably = harness().make({ ...PATIENT, concurrency: 2 })
      const { sleeper: handle } = durably.register({ sleeper })
      await durably.init()
      durably.start()
      const napping = await handle.trigger({ n: 1 })
      await nextEvent(durably, 'run:wait', (e) => e.runId === napping.id)
      const other = await handle.triggerAndWait({ n: 2 }, { timeout: 10_000 })
      expect(other.output).toBe(2)
      expect((await durably.getRun(napping.id))?.status).toBe('pending')
    })

    it('keeps the spec: a trigger concurrencyKey runs one at a time whatever the job limit', async () => {
      const { job, held, seen } = limitedJob({ concurrency: { limit: 5 } })
      const durably = harness().make({ ...PATIENT, concurrency: 4 })
      const { job: handle } = durably.register({ job })
      await durably.init()
      const runs = [
        await handle.trigger({ tenant: 't', n: 1 }, { concurrencyKey: 'solo' }),
        await handle.trigger({ tenant: 't', n: 2 }, { concurrencyKey: 'solo' }),
      ]
      durably.start()
      await waitUntil(() => seen.inside === 1, { what: 'one running' })
      expect(
        (
          await statuses(
            durably,
            runs.map((run) => run.id),
          )
        ).sort(),
      ).toEqual(['pending', 'running'])
      held.open()
      await untilAllCompleted(
        durably,
        runs.map((run) => run.id),
        'both completed',
      )
      expect(seen.most).toBe(1)
    })
  })

  describe('throttle: { limit, period, key }', () => {
    it('starts `limit` runs per period and moves the rest to the next free slot', async () => {
      const job = quickJob({ throttle: { limit: 2, period: 600_000 } })
      const durably = harness().make({ ...PATIENT, concurrency: 4 })
      const { quick } = durably.register({ quick: job })
      await durably.init()
      const runs = await Promise.all([1, 2, 3, 4].map((n) => quick.trigger({ n })))
      durably.start()
      await waitUntil(
        async () =>
          (
            await statuses(
              durably,
              runs.map((run) => run.id),
            )
          ).filter((s) => s === 'completed').length === 2,
        { what: 'two completed' },
      )
      const all = (await Promise.all(runs.map((run) => durably.getRun(run.id)))) as Run[]
      const done = all.filter((run) => run.status === 'completed')
      const moved = all.filter((run) => run.status === 'pending')
      expect(moved).toHaveLength(2)
      const firstStart = Math.min(...done.map((run) => Date.parse(run.startedAt ?? '')))
      for (const run of moved) {
        expect(run.waitingFor).toMatchObject({ kind: 'throttle', key: 'quick' })
        expect(Date.parse(run.availableAt ?? '')).toBe(firstStart + 600_000)
        expect(run.blockedBy).toEqual({ reason: 'throttle', key: 'quick', until: run.availableAt })
      }
    })

    it('starts each throttled run only once its slot has freed', async () => {
      const job = quickJob({ throttle: { limit: 1, period: 300 } })
      const durably = harness().make({ ...PATIENT, concurrency: 4 })
      const { quick } = durably.register({ quick: job })
      await durably.init()
      const runs = await Promise.all([1, 2, 3].map((n) => quick.trigger({ n })))
      durably.start()
      await untilAllCompleted(
        durably,
        runs.map((run) => run.id),
        'all completed',
      )
      const starts = (await Promise.all(runs.map((run) => durably.getRun(run.id))))
        .map((run) => Date.parse(run?.startedAt ?? ''))
        .sort((a, b) => a - b)
      // Recorded start times, not a timing assertion: the database refused earlier starts.
      expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(300)
      expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(300)
    })

    it('throttles each key apart', async () => {
      const job = quickJob({
        throttle: {
          limit: 1,
          period: 600_000,
          key: (input: { tenant?: string }) => input.tenant ?? '-',
        },
      })
      const durably = harness().make({ ...PATIENT, concurrency: 4 })
      const { quick } = durably.register({ quick: job })
      await durably.init()
      const a = await quick.trigger({ n: 1, tenant: 'a' })
      const b = await quick.trigger({ n: 2, tenant: 'b' })
      const a2 = await quick.trigger({ n: 3, tenant: 'a' })
      durably.start()
      await untilAllCompleted(durably, [a.id, b.id], 'one run per key completed')
      const parked = await durably.getRun(a2.id)
      expect(parked?.status).toBe('pending')
      expect(parked?.waitingFor).toMatchObject({ kind: 'throttle', key: 'quick:a' })
    })
  })

  describe('debounce: { period, key, maxWait }', () => {
    it('replaces the pending run input on a trigger within the period and returns that run', async () => {
      const durably = harness().make()
      const { quick } = durably.register({ quick: quickJob({ debounce: { period: 600_000 } }) })
      await durably.init()
      const first = await quick.trigger({ n: 1 })
      const second = await quick.trigger({ n: 2 })
      expect(second.id).toBe(first.id)
      expect(second.payload).toEqual({ n: 2 })
      expect(await quick.getRuns()).toHaveLength(1)
      expect(second.waitingFor).toMatchObject({ kind: 'debounce', key: 'quick' })
      expect(Date.parse(second.availableAt ?? '')).toBeGreaterThanOrEqual(
        Date.parse(first.availableAt ?? ''),
      )
    })

    it('never moves the start past maxWait after the first trigger', async () => {
      const durably = harness().make()
      const { quick } = durably.register({
        quick: quickJob({ debounce: { period: 60_000, maxWait: 60_000 } }),
      })
      await durably.init()
      const first = await quick.trigger({ n: 1 })
      await waitUntil(() => Date.now() > Date.parse(first.createdAt) + 5, { what: 'a later ms' })
      const second = await quick.trigger({ n: 2 })
      expect(second.id).toBe(first.id)
      expect(second.availableAt).toBe(first.availableAt)
    })

    it('starts the run with the last input once the period passes quietly', async () => {
      const durably = harness().make()
      // Long enough for a slow browser to trigger twice within it; short enough to wait out.
      const { quick } = durably.register({ quick: quickJob({ debounce: { period: 2_000 } }) })
      await durably.init()
      const completed = new Map<string, unknown>()
      durably.on('run:complete', (event) => completed.set(event.runId, event.output))
      durably.start()
      const first = await quick.trigger({ n: 1 })
      const second = await quick.trigger({ n: 2 })
      expect(second.id).toBe(first.id)
      await waitUntil(() => completed.has(first.id), { what: 'the debounced run completed' })
      expect(completed.get(first.id)).toBe(2)
      expect(await quick.getRuns()).toHaveLength(1)
    })

    it('debounces each key apart', async () => {
      const durably = harness().make()
      const { quick } = durably.register({
        quick: quickJob({
          debounce: { period: 600_000, key: (input: { tenant?: string }) => input.tenant ?? '-' },
        }),
      })
      await durably.init()
      const a = await quick.trigger({ n: 1, tenant: 'a' })
      const b = await quick.trigger({ n: 2, tenant: 'b' })
      const a2 = await quick.trigger({ n: 3, tenant: 'a' })
      expect(b.id).not.toBe(a.id)
      expect(a2.id).toBe(a.id)
    })

    it('refuses delay, runAt and idempotencyKey on a debounced job, storing nothing', async () => {
      const durably = harness().make()
      const { quick } = durably.register({ quick: quickJob({ debounce: { period: 1000 } }) })
      await durably.init()
      for (const options of [{ delay: 10 }, { runAt: new Date() }, { idempotencyKey: 'k' }]) {
        await expect(quick.trigger({ n: 1 }, options)).rejects.toThrow(ValidationError)
      }
      expect(await quick.getRuns()).toHaveLength(0)
    })
  })

  describe('priority', () => {
    it('claims runs with a head start first among ready runs', async () => {
      const durably = harness().make({ ...PATIENT, concurrency: 1 })
      const { quick } = durably.register({ quick: quickJob({}) })
      // migrate(), not init(): the worker starts only once all three are waiting.
      await durably.migrate()
      const low = await quick.trigger({ n: 1 }, { priority: -60 })
      const plain = await quick.trigger({ n: 2 })
      const high = await quick.trigger({ n: 3 }, { priority: 60 })
      const order: string[] = []
      durably.on('run:start', (event) => order.push(event.runId))
      durably.start()
      await waitUntil(() => order.length === 3, { what: 'three starts' })
      expect(order).toEqual([high.id, plain.id, low.id])
    })

    it('delays a low priority without starving it: alone, it runs at once', async () => {
      const durably = harness().make()
      const { quick } = durably.register({ quick: quickJob({}) })
      await durably.init()
      durably.start()
      const run = await quick.triggerAndWait({ n: 7 }, { priority: -600, timeout: 10_000 })
      expect(run.output).toBe(7)
    })

    it('refuses a priority that is not an integer within ±600, storing nothing', async () => {
      const durably = harness().make()
      const { quick } = durably.register({ quick: quickJob({}) })
      await durably.init()
      for (const priority of [1.5, Number.NaN, Number.POSITIVE_INFINITY, 601, -601, '5']) {
        await expect(quick.trigger({ n: 1 }, { priority: priority as number })).rejects.toThrow(
          ValidationError,
        )
      }
      expect(await quick.getRuns()).toHaveLength(0)
    })
  })

  describe('getRun(id).blockedBy', () => {
    it('names the full concurrency key and how many runs hold it', async () => {
      const { job, held, seen } = limitedJob({ concurrency: { limit: 1 } })
      const durably = harness().make(PATIENT)
      const { job: handle } = durably.register({ job })
      await durably.init()
      durably.start()
      await handle.trigger({ tenant: 't', n: 1 })
      await waitUntil(() => seen.inside === 1, { what: 'the first run in its step' })
      const second = await handle.trigger({ tenant: 't', n: 2 })
      const blocked = await durably.getRun(second.id)
      held.open()
      expect(blocked?.blockedBy).toEqual({
        reason: 'concurrency',
        key: 'limited',
        limit: 1,
        running: 1,
      })
    })

    it('says delay for a delayed start and wait for a sleep', async () => {
      const sleeper = defineJob({
        name: 'sleeper',
        input: z.object({}),
        run: async (step) => {
          await step.sleep('nap', 3_600_000)
          return null
        },
      })
      const durably = harness().make()
      const { sleeper: handle, quick } = durably.register({ sleeper, quick: quickJob({}) })
      await durably.init()
      durably.start()
      const delayed = await quick.trigger({ n: 1 }, { delay: 3_600_000 })
      expect((await durably.getRun(delayed.id))?.blockedBy).toEqual({
        reason: 'delay',
        until: delayed.availableAt,
      })
      const napping = await handle.trigger({})
      const waited = await nextEvent(durably, 'run:wait', (e) => e.runId === napping.id)
      expect((await durably.getRun(napping.id))?.blockedBy).toEqual({
        reason: 'wait',
        kind: 'sleep',
        until: (waited.waitingFor as { until: string }).until,
      })
    })

    it('says no-worker for a ready run whose job no worker has registered', async () => {
      const producer = harness().make()
      const { quick } = producer.register({ quick: quickJob({}) })
      // migrate(), not init(): init() starts this instance's worker too.
      await producer.migrate()
      const run = await quick.trigger({ n: 1 })
      const noWorker = { reason: 'no-worker', jobName: 'quick', lastSeenAt: null }
      expect((await producer.getRun(run.id))?.blockedBy).toEqual(noWorker)
      expect((await quick.getRun(run.id))?.blockedBy).toEqual(noWorker)
      producer.start()
      await waitUntil(async () => (await producer.getRun(run.id))?.status === 'completed', {
        what: 'the run completed once a worker started',
      })
    })

    it('is null for a ready run that only waits for a worker slot', async () => {
      const { job, held, seen } = limitedJob({})
      const durably = harness().make({ ...PATIENT, concurrency: 1 })
      const { job: handle } = durably.register({ job })
      await durably.init()
      durably.start()
      await handle.trigger({ tenant: 't', n: 1 })
      await waitUntil(() => seen.inside === 1, { what: 'the first run in its step' })
      const queued = await handle.trigger({ tenant: 't', n: 2 })
      const blocked = await waitUntil(
        async () => (await durably.getRun(queued.id))?.blockedBy === null,
        { what: 'a sighting of this worker' },
      ).finally(() => held.open())
      expect(blocked).toBe(true)
    })
  })

  describe('bad flow-control options', () => {
    const bad: [string, Record<string, unknown>][] = [
      ['a zero concurrency limit', { concurrency: { limit: 0 } }],
      ['a fractional concurrency limit', { concurrency: { limit: 1.5 } }],
      ['a concurrency key that is not a function', { concurrency: { limit: 1, key: 'tenant' } }],
      ['an unknown concurrency option', { concurrency: { limit: 1, limt: 2 } }],
      ['a negative throttle period', { throttle: { limit: 1, period: -1 } }],
      ['a zero throttle limit', { throttle: { limit: 0, period: 1000 } }],
      ['a throttle without a period', { throttle: { limit: 1 } }],
      ['a NaN debounce period', { debounce: { period: Number.NaN } }],
      ['a maxWait shorter than the period', { debounce: { period: 1000, maxWait: 10 } }],
      ['an unknown debounce option', { debounce: { period: 1000, max: 10 } }],
      ['an unknown job option', { retires: 3 }],
    ]
    for (const [what, options] of bad) {
      it(`rejects ${what} at defineJob with InvalidArgumentError`, () => {
        expect(() => quickJob(options)).toThrow(InvalidArgumentError)
      })
    }

    it('rejects a trigger whose key function throws or returns a non-string, storing nothing', async () => {
      const durably = harness().make()
      const { throws, number } = durably.register({
        throws: defineJob({
          name: 'throws',
          input: z.object({}),
          concurrency: {
            limit: 1,
            key: () => {
              throw new Error('no tenant')
            },
          },
          run: async () => null,
        }),
        number: defineJob({
          name: 'number',
          input: z.object({}),
          throttle: { limit: 1, period: 1000, key: () => 42 as unknown as string },
          run: async () => null,
        }),
      })
      await durably.init()
      await expect(throws.trigger({})).rejects.toThrow(/key function threw: no tenant/)
      await expect(number.trigger({})).rejects.toThrow(ValidationError)
      expect(await durably.getRuns()).toHaveLength(0)
    })
  })
}
