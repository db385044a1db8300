/**
 * The contract suite: every behaviour the specification and DESIGN.md promise, written once
 * and run against each backend through its factory.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  CancelledError,
  ConflictError,
  createDurably,
  type DurablyEvent,
  defineJob,
  InvalidArgumentError,
  NotFoundError,
  RunFailedError,
  TimeoutError,
  ValidationError,
  withLogPersistence,
} from '../../src/index.js'
import type { Backend } from '../support/backends.js'
import { gate, nextEvent, recordEvents, waitUntil } from '../support/wait.js'
import { defineFlowSuite } from './flow.js'
import { echoJob, type Harness, heldJob, openHarness } from './harness.js'
import { defineRetentionSuite } from './retention.js'
import { defineRetrySuite } from './retries.js'
import { defineScheduleSuite } from './schedules.js'
import { defineTimeSuite } from './time.js'
import { defineWaitSuite } from './waits.js'

export function defineContractSuite(backend: Backend): void {
  describe.skipIf(!!backend.unavailable)(`contract on ${backend.name}`, () => {
    let h: Harness
    beforeEach(async () => {
      h = await openHarness(backend)
    })
    afterEach(async () => {
      await h.cleanup()
    })

    const rows = (sqlText: string, args?: unknown[]) => h.database.exec(sqlText, args)
    const param = (index: number) => (backend.family === 'postgres' ? `$${index}` : '?')

    defineTimeSuite(() => h)
    defineWaitSuite(() => h)
    defineFlowSuite(() => h)
    defineRetrySuite(() => h, backend.family)
    defineRetentionSuite(() => h, backend.family)
    // Tabs in one browser share one OPFS file through a worker each: two is what a user opens.
    defineScheduleSuite(() => h, backend.name === 'sqlocal' ? 2 : 4)

    describe('createDurably()', () => {
      it('rejects a missing dialect with InvalidArgumentError', () => {
        expect(() => createDurably({ dialect: undefined as never })).toThrow(InvalidArgumentError)
      })

      it.each([
        ['pollingInterval', 0],
        ['pollingInterval', -5],
        ['heartbeatInterval', 0],
        ['staleThreshold', -1],
        ['pollingInterval', Number.NaN],
        ['concurrency', 0],
        ['concurrency', 1.5],
      ])('rejects %s = %s', (name, value) => {
        expect(() => h.make({ [name]: value })).toThrow(InvalidArgumentError)
      })

      it('rejects a staleThreshold that is not above heartbeatInterval', () => {
        expect(() => h.make({ heartbeatInterval: 1000, staleThreshold: 1000 })).toThrow(
          /staleThreshold/,
        )
      })
    })

    describe('migrate()', () => {
      it('creates the tables and records the schema version', async () => {
        const durably = h.make()
        await durably.migrate()
        const versions = await rows('SELECT version FROM durably_schema_versions')
        expect(versions.map((row) => Number(row.version))).toEqual([1, 2, 3, 4, 5, 6, 7])
        expect(await durably.getRuns()).toEqual([])
      })

      it('is idempotent', async () => {
        await h.make().migrate()
        await h.make().migrate()
        expect(await rows('SELECT version FROM durably_schema_versions')).toHaveLength(7)
      })

      it('applies each version once when two instances migrate at the same time', async () => {
        const first = h.make()
        const second = h.make({}, h.database.secondDialect())
        await Promise.all([first.migrate(), second.migrate()])
        expect(await rows('SELECT version FROM durably_schema_versions')).toHaveLength(7)
      })

      it('upgrades a version-1 database: its pending runs become claimable in creation order', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        await durably.migrate()
        const [older, newer] = await echo.batchTrigger([{ value: 'a' }, { value: 'b' }])
        // Back to what version 1 left: no available_at, and version 2 not applied.
        await rows('UPDATE durably_runs SET available_at = NULL')
        await rows('DROP INDEX durably_runs_claimable')
        await rows(`DELETE FROM durably_schema_versions WHERE version = ${param(1)}`, [2])
        const upgraded = h.make({}, h.database.secondDialect())
        upgraded.register({ echo: echoJob })
        await upgraded.migrate()
        expect((await upgraded.getRun(older!.id))?.availableAt).toBe(older!.createdAt)
        expect(await upgraded.processOne()).toBe(true)
        expect((await upgraded.getRun(older!.id))?.status).toBe('completed')
        expect((await upgraded.getRun(newer!.id))?.status).toBe('pending')
      })
    })

    describe('register()', () => {
      it('returns handles both by key and under .jobs', () => {
        const durably = h.make()
        const registered = durably.register({ echo: echoJob })
        const { echo } = registered
        expect(echo.name).toBe('echo')
        expect(registered.jobs.echo).toBe(echo)
        expect(durably.jobs).toHaveProperty('echo')
        expect(durably.getJob('echo')).toBe(echo)
        expect(durably.getJob('nope')).toBeUndefined()
      })

      it('rejects a key that collides with a durably member', () => {
        const durably = h.make()
        expect(() => durably.register({ trigger: echoJob, on: echoJob } as never)).toThrow(
          /durably member/,
        )
        expect(() => durably.register({ stop: echoJob })).toThrow(InvalidArgumentError)
      })

      it('rejects a second, different definition under the same job name', () => {
        const durably = h.make()
        durably.register({ echo: echoJob })
        const impostor = defineJob({ name: 'echo', input: z.object({}), run: async () => 1 })
        expect(() => durably.register({ other: impostor })).toThrow(ConflictError)
      })

      it('accepts the same definition twice as a no-op', () => {
        const durably = h.make()
        const first = durably.register({ echo: echoJob }).echo
        const second = durably.register({ echo: echoJob }).echo
        expect(second).toBe(first)
      })
    })

    describe('trigger()', () => {
      it('stores a pending run with the validated payload and emits run:trigger', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        const triggered = nextEvent(durably, 'run:trigger')
        const run = await echo.trigger({ value: 'a' })
        expect(run.status).toBe('pending')
        expect(run.payload).toEqual({ value: 'a' })
        expect((await triggered).runId).toBe(run.id)
        expect((await durably.getRun(run.id))?.jobName).toBe('echo')
      })

      it('rejects invalid input with a ValidationError carrying the issues, storing nothing', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        const error = await echo.trigger({ value: 42 } as never).catch((caught: unknown) => caught)
        expect(error).toBeInstanceOf(ValidationError)
        expect((error as ValidationError).issues[0]?.path).toEqual(['value'])
        expect(await durably.getRuns()).toEqual([])
      })

      it('returns the first run for a second trigger with the same idempotencyKey', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        const first = await echo.trigger({ value: 'a' }, { idempotencyKey: 'k1' })
        const second = await echo.trigger({ value: 'b' }, { idempotencyKey: 'k1' })
        expect(second.id).toBe(first.id)
        expect(await durably.getRuns()).toHaveLength(1)
      })

      it('creates exactly one run when concurrent triggers share a new idempotencyKey', async () => {
        const a = h.make()
        const b = h.make({}, h.database.secondDialect())
        const handles = [a.register({ echo: echoJob }).echo, b.register({ echo: echoJob }).echo]
        await a.migrate()
        const runs = await Promise.all(
          Array.from({ length: 10 }, (_, index) =>
            handles[index % 2]!.trigger({ value: String(index) }, { idempotencyKey: 'same' }),
          ),
        )
        expect(new Set(runs.map((run) => run.id)).size).toBe(1)
        expect(await a.getRuns()).toHaveLength(1)
      })

      it('returns the run exactly as getRun reads it back', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        const runs = [
          await echo.trigger({ value: 'plain' }),
          await echo.trigger(
            { value: 'every option' },
            { idempotencyKey: 'k', concurrencyKey: 'c', delay: 60_000, priority: 30 },
          ),
        ]
        for (const run of runs) {
          const { blockedBy: _reason, ...stored } = (await durably.getRun(run.id)) ?? {}
          expect(run).toEqual(stored)
        }
      })

      it('rejects an empty idempotencyKey', async () => {
        const { echo } = h.make().register({ echo: echoJob })
        await expect(echo.trigger({ value: 'a' }, { idempotencyKey: '' })).rejects.toThrow(
          ValidationError,
        )
      })
    })

    describe('batchTrigger()', () => {
      it('stores every run, in order, as pending', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        const runs = await echo.batchTrigger([
          { value: 'a' },
          { input: { value: 'b' }, options: { concurrencyKey: 'c' } },
        ])
        expect(runs.map((run) => run.payload)).toEqual([{ value: 'a' }, { value: 'b' }])
        expect(runs[1]?.concurrencyKey).toBe('c')
        expect(await durably.getRuns({ status: 'pending' })).toHaveLength(2)
      })

      it('returns each run exactly as getRun reads it back', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        const runs = await echo.batchTrigger([
          { value: 'a' },
          { input: { value: 'b' }, options: { concurrencyKey: 'c', priority: -5, delay: 1_000 } },
        ])
        for (const run of runs) {
          const { blockedBy: _reason, ...stored } = (await durably.getRun(run.id)) ?? {}
          expect(run).toEqual(stored)
        }
      })

      it('rejects the whole batch when one input is invalid, storing nothing', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        await expect(echo.batchTrigger([{ value: 'a' }, { value: 1 } as never])).rejects.toThrow(
          /item 1/,
        )
        expect(await durably.getRuns()).toEqual([])
      })
    })

    describe('execution', () => {
      it('runs the steps in order and completes with the output', async () => {
        const durably = h.make()
        const order: string[] = []
        const { job } = durably.register({
          job: defineJob({
            name: 'ordered',
            input: z.object({ n: z.number() }),
            run: async (step, { n }) => {
              const a = await step.run('a', () => {
                order.push('a')
                return n + 1
              })
              const b = await step.run('b', () => {
                order.push('b')
                return a * 10
              })
              return { b }
            },
          }),
        })
        await durably.init()
        const result = await job.triggerAndWait({ n: 1 })
        expect(result.output).toEqual({ b: 20 })
        expect(order).toEqual(['a', 'b'])
        const steps = await durably.getSteps(result.id)
        expect(steps.map((step) => [step.name, step.index, step.status])).toEqual([
          ['a', 0, 'completed'],
          ['b', 1, 'completed'],
        ])
        const run = await durably.getRun(result.id)
        expect(run).toMatchObject({ status: 'completed', stepCount: 2, currentStepIndex: 2 })
      })

      it('wakes an idle worker at once when this process triggers', async () => {
        const durably = h.make({ pollingInterval: 60_000 })
        const { echo } = durably.register({ echo: echoJob })
        await durably.init()
        const result = await echo.triggerAndWait({ value: 'now' }, { timeout: 5000 })
        expect(result.output).toEqual({ echoed: 'now' })
      })

      it('starts the next pending run as soon as one finishes', async () => {
        const durably = h.make({ pollingInterval: 60_000 })
        const { echo } = durably.register({ echo: echoJob })
        await durably.migrate()
        const runs = await echo.batchTrigger([{ value: '1' }, { value: '2' }, { value: '3' }])
        await durably.init()
        await waitUntil(async () => (await durably.getRuns({ status: 'completed' })).length === 3, {
          timeout: 5000,
          what: 'three runs back to back without polling',
        })
        expect(runs).toHaveLength(3)
      })

      it('starts runs while the host triggers in a tight loop', async () => {
        const durably = h.make({ pollingInterval: 60_000 })
        const { echo } = durably.register({ echo: echoJob })
        await durably.init()
        let started = 0
        durably.on('run:start', () => {
          started += 1
        })
        let startedBeforeLastTrigger = 0
        // Enough triggers to hold the event loop well past the instance's 10 ms budget.
        for (let i = 0; i < 200; i++) {
          startedBeforeLastTrigger = started
          await echo.trigger({ value: String(i) })
        }
        expect(startedBeforeLastTrigger).toBeGreaterThan(0)
      })

      it('treats repeated step names as distinct steps by occurrence', async () => {
        const durably = h.make()
        const { job } = durably.register({
          job: defineJob({
            name: 'repeat',
            input: z.object({}),
            run: async (step) => [await step.run('x', () => 1), await step.run('x', () => 2)],
          }),
        })
        await durably.init()
        const { id, output } = await job.triggerAndWait({})
        expect(output).toEqual([1, 2])
        expect((await durably.getSteps(id)).map((step) => step.output)).toEqual([1, 2])
      })

      it('returns the JSON round trip of a step value on first execution', async () => {
        const durably = h.make()
        let seen: unknown
        const { job } = durably.register({
          job: defineJob({
            name: 'roundtrip',
            input: z.object({}),
            run: async (step) => {
              seen = await step.run('value', () => ({
                when: new Date(0),
                gone: undefined,
                list: [1, 'two'],
              }))
              return null
            },
          }),
        })
        await durably.init()
        await job.triggerAndWait({})
        expect(seen).toEqual({ when: '1970-01-01T00:00:00.000Z', list: [1, 'two'] })
        expect(Object.hasOwn(seen as object, 'gone')).toBe(false)
      })

      it('fails the run, naming the step, when a step returns a value JSON cannot carry', async () => {
        const durably = h.make()
        const { job } = durably.register({
          job: defineJob({
            name: 'bigint',
            input: z.object({}),
            run: async (step) => step.run('count', () => ({ total: 10n })),
          }),
        })
        await durably.init()
        const error = await job.triggerAndWait({}).catch((caught: unknown) => caught)
        expect(error).toBeInstanceOf(RunFailedError)
        expect((error as Error).message).toMatch(/Step "count".*BigInt/)
        const steps = await durably.getSteps((error as RunFailedError).runId)
        expect(steps[0]).toMatchObject({ name: 'count', status: 'failed' })
      })

      it('fails the run with the schema message when the output does not match', async () => {
        const durably = h.make()
        const { job } = durably.register({
          job: defineJob({
            name: 'bad-output',
            input: z.object({}),
            output: z.object({ count: z.number() }),
            run: async () => ({ count: 'many' }) as never,
          }),
        })
        await durably.init()
        await expect(job.triggerAndWait({})).rejects.toThrow(/Output of job "bad-output".*count/)
      })

      it('persists progress and emits run:progress', async () => {
        const durably = h.make()
        const { job } = durably.register({
          job: defineJob({
            name: 'progress',
            input: z.object({}),
            run: async (step) => {
              step.progress(1, 3, 'one')
              await step.run('a', () => 1)
              step.progress(3, 3, 'done')
              return null
            },
          }),
        })
        const events = recordEvents(durably, ['run:progress'])
        await durably.init()
        const { id } = await job.triggerAndWait({})
        expect(events.map((event) => (event as { progress: unknown }).progress)).toEqual([
          { current: 1, total: 3, message: 'one' },
          { current: 3, total: 3, message: 'done' },
        ])
        expect((await durably.getRun(id))?.progress).toEqual({
          current: 3,
          total: 3,
          message: 'done',
        })
      })

      it('emits log:write with level, message, data and the current step', async () => {
        const durably = h.make()
        const { job } = durably.register({
          job: defineJob({
            name: 'logs',
            input: z.object({}),
            run: async (step) => {
              step.log.info('before', { a: 1 })
              await step.run('inside', () => step.log.warn('during'))
              step.log.error('after')
              return null
            },
          }),
        })
        const events = recordEvents(durably, ['log:write'])
        await durably.init()
        await job.triggerAndWait({})
        expect(
          events.map(
            (event) => event.type === 'log:write' && [event.level, event.message, event.stepName],
          ),
        ).toEqual([
          ['info', 'before', null],
          ['warn', 'during', 'inside'],
          ['error', 'after', null],
        ])
      })

      it('stores logs in durably_logs when withLogPersistence is used', async () => {
        const durably = h.make()
        durably.use(withLogPersistence())
        const { job } = durably.register({
          job: defineJob({
            name: 'persisted-logs',
            input: z.object({}),
            run: async (step) => {
              step.log.info('hello', { n: 1 })
              return null
            },
          }),
        })
        await durably.init()
        const { id } = await job.triggerAndWait({})
        const logs = await waitUntil(async () => {
          const found = await durably.getLogs(id)
          return found.length === 1 ? found : undefined
        })
        expect(logs[0]).toMatchObject({
          runId: id,
          level: 'info',
          message: 'hello',
          data: { n: 1 },
        })
      })

      it('fails only the run whose stored payload is corrupted', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        await durably.migrate()
        const broken = await echo.trigger({ value: 'broken' })
        const fine = await echo.trigger({ value: 'fine' })
        if (backend.family === 'sqlite') {
          await rows(`UPDATE durably_runs SET payload = '{not json' WHERE id = ${param(1)}`, [
            broken.id,
          ])
        } else {
          // PostgreSQL's json type refuses malformed text; corrupt the shape instead.
          await rows(`UPDATE durably_runs SET payload = '"a string"' WHERE id = ${param(1)}`, [
            broken.id,
          ])
        }
        await durably.init()
        await waitUntil(async () => (await durably.getRun(fine.id))?.status === 'completed')
        const failed = await waitUntil(async () => {
          const run = await durably.getRun(broken.id)
          return run?.status === 'failed' ? run : undefined
        })
        expect(failed.error).toMatch(
          backend.family === 'sqlite' ? /payload is not valid JSON/ : /invalid/i,
        )
      })
    })

    describe('events', () => {
      it('stamp every event with a timestamp and an increasing sequence', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        const events = recordEvents(durably)
        await durably.init()
        await echo.triggerAndWait({ value: 'x' })
        expect(events.map((event) => event.type)).toEqual([
          'run:trigger',
          'run:start',
          'step:start',
          'step:complete',
          'run:complete',
        ])
        const sequences = events.map((event) => event.sequence)
        expect(sequences).toEqual([...sequences].sort((a, b) => a - b))
        expect(new Set(sequences).size).toBe(sequences.length)
        for (const event of events) expect(Number.isNaN(Date.parse(event.timestamp))).toBe(false)
      })

      it('on() returns an unsubscribe function', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        const seen: DurablyEvent[] = []
        const before = durably.listenerCount()
        const off = durably.on('run:trigger', (event) => seen.push(event))
        off()
        await echo.trigger({ value: 'x' })
        expect(seen).toEqual([])
        expect(durably.listenerCount()).toBe(before)
      })

      it('keeps the worker running when a listener throws, reporting to onError', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        const reported: Error[] = []
        durably.onError((error) => reported.push(error))
        durably.on('step:complete', () => {
          throw new Error('listener broke')
        })
        await durably.init()
        const result = await echo.triggerAndWait({ value: 'ok' })
        expect(result.output).toEqual({ echoed: 'ok' })
        expect(reported.map((error) => error.message)).toContain('listener broke')
      })
    })

    describe('workers and leases', () => {
      it('never runs one run twice with two workers in one process', async () => {
        const executions: string[] = []
        const job = defineJob({
          name: 'counted',
          input: z.object({ i: z.number() }),
          run: async (step, { i }) => {
            await step.run('count', () => {
              executions.push(String(i))
              return i
            })
            return null
          },
        })
        // Leases that cannot expire during the test: this checks that a claim is exclusive;
        // a run taken over after a missed heartbeat is the lease-loss tests' business.
        const patient = { heartbeatInterval: 200, staleThreshold: 60_000 }
        const a = h.make(patient)
        const b = h.make(patient, h.database.secondDialect())
        const { counted } = a.register({ counted: job })
        b.register({ counted: job })
        await a.migrate()
        await counted.batchTrigger(Array.from({ length: 40 }, (_, i) => ({ i })))
        await Promise.all([a.init(), b.init()])
        await waitUntil(async () => (await a.getRuns({ status: 'completed' })).length === 40, {
          timeout: 20_000,
        })
        expect(executions).toHaveLength(40)
        expect(new Set(executions).size).toBe(40)
      })

      it('holds a pending run whose concurrencyKey is busy while other keys proceed', async () => {
        const held = gate()
        const started: string[] = []
        const durably = h.make({ concurrency: 4 })
        const { job } = durably.register({
          job: defineJob({
            name: 'keyed',
            input: z.object({ label: z.string() }),
            run: async (step, { label }) => {
              started.push(label)
              if (label === 'a1') await step.run('hold', () => held.promise)
              return label
            },
          }),
        })
        await durably.migrate()
        const a1 = await job.trigger({ label: 'a1' }, { concurrencyKey: 'a' })
        const a2 = await job.trigger({ label: 'a2' }, { concurrencyKey: 'a' })
        const b1 = await job.trigger({ label: 'b1' }, { concurrencyKey: 'b' })
        const free = await job.trigger({ label: 'free' })
        await durably.init()
        await waitUntil(async () => {
          const [b, f] = await Promise.all([durably.getRun(b1.id), durably.getRun(free.id)])
          return b?.status === 'completed' && f?.status === 'completed'
        })
        expect((await durably.getRun(a2.id))?.status).toBe('pending')
        expect(started).not.toContain('a2')
        held.open()
        await waitUntil(async () => (await durably.getRun(a2.id))?.status === 'completed')
        expect(started.indexOf('a2')).toBeGreaterThan(started.indexOf('a1'))
        expect((await durably.getRun(a1.id))?.status).toBe('completed')
      })

      it('lets a worker whose lease was taken write nothing more', async () => {
        const held = gate()
        const entered = gate()
        let executions = 0
        const job = defineJob({
          name: 'leased',
          input: z.object({}),
          run: async (step) => {
            const who = await step.run('first', async () => {
              executions += 1
              const mine = executions
              if (mine === 1) {
                entered.open()
                await held.promise
              }
              return `worker-${mine}`
            })
            await step.run('second', () => who)
            return who
          },
        })
        // The first worker's heartbeat is too slow to keep its lease: it goes stale.
        const slow = h.make({ heartbeatInterval: 60_000, staleThreshold: 120_000 })
        const { leased } = slow.register({ leased: job })
        await slow.migrate()
        const run = await leased.trigger({})
        const processing = slow.processOne()
        await entered.promise
        const past = new Date(Date.now() - 600_000).toISOString()
        await rows(`UPDATE durably_runs SET heartbeat_at = ${param(1)} WHERE id = ${param(2)}`, [
          past,
          run.id,
        ])
        const rescuer = h.make({}, h.database.secondDialect())
        rescuer.register({ leased: job })
        expect(await rescuer.processOne()).toBe(true)
        held.open()
        await processing
        const settled = await slow.getRun(run.id)
        expect(settled).toMatchObject({ status: 'completed', output: 'worker-2' })
        const steps = await slow.getSteps(run.id)
        expect(steps.map((step) => [step.name, step.output])).toEqual([
          ['first', 'worker-2'],
          ['second', 'worker-2'],
        ])
      })

      it('renews the lease of a long step so no other worker takes it', async () => {
        const held = gate()
        const entered = gate()
        const job = defineJob({
          name: 'long',
          input: z.object({}),
          run: async (step) => {
            await step.run('long', async () => {
              entered.open()
              await held.promise
            })
            return null
          },
        })
        const durably = h.make({ heartbeatInterval: 30, staleThreshold: 300 })
        const { long } = durably.register({ long: job })
        await durably.init()
        const run = await long.trigger({})
        await entered.promise
        const firstBeat = (await durably.getRun(run.id))?.heartbeatAt
        await waitUntil(async () => (await durably.getRun(run.id))?.heartbeatAt !== firstBeat, {
          what: 'a heartbeat',
        })
        const other = h.make(
          { staleThreshold: 300, heartbeatInterval: 30 },
          h.database.secondDialect(),
        )
        other.register({ long: job })
        expect(await other.processOne()).toBe(false)
        held.open()
        await waitUntil(async () => (await durably.getRun(run.id))?.status === 'completed')
      })

      it('keeps working after database errors, reporting worker:error', async () => {
        const durably = h.make({ pollingInterval: 20 })
        const { echo } = durably.register({ echo: echoJob })
        await durably.migrate()
        const run = await echo.trigger({ value: 'survivor' })
        await rows('ALTER TABLE durably_runs RENAME TO durably_runs_away')
        const failure = nextEvent(durably, 'worker:error')
        await durably.init()
        expect((await failure).context).toBe('claim')
        await rows('ALTER TABLE durably_runs_away RENAME TO durably_runs')
        await waitUntil(async () => (await durably.getRun(run.id))?.status === 'completed', {
          timeout: 10_000,
        })
      })

      it('processOne() executes exactly one claimable run', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        await echo.batchTrigger([{ value: '1' }, { value: '2' }])
        expect(await durably.processOne()).toBe(true)
        expect(await durably.getRuns({ status: 'completed' })).toHaveLength(1)
        expect(await durably.getRuns({ status: 'pending' })).toHaveLength(1)
      })

      it('stop() lets the step in flight finish and hands the run back', async () => {
        const { job: stoppable, held, entered, seen } = heldJob('stoppable')
        const durably = h.make()
        const { job } = durably.register({ job: stoppable })
        await durably.init()
        const run = await job.trigger({})
        await entered.promise
        const stopped = durably.stop()
        held.open()
        await stopped
        expect(durably.workerState).toBe('stopped')
        expect(seen.secondRan).toBe(false)
        const after = await durably.getRun(run.id)
        expect(after).toMatchObject({ status: 'pending', stepCount: 1 })
        const lease = await rows(`SELECT lease_owner FROM durably_runs WHERE id = ${param(1)}`, [
          run.id,
        ])
        expect(lease[0]?.lease_owner).toBeNull()
      })

      it('stop() resolves after a trigger woke a worker with no free slot', async () => {
        const { job: stoppable, held, entered } = heldJob('stoppable')
        const durably = h.make({ concurrency: 1 })
        const { job } = durably.register({ job: stoppable })
        await durably.init()
        await job.trigger({})
        await entered.promise
        // This wake-up polls with every slot taken: a poll that has nothing to await.
        await job.trigger({})
        held.open()
        await durably.stop()
        expect(durably.workerState).toBe('stopped')
      })
    })

    describe('cancel()', () => {
      it('keeps a cancelled pending run from ever starting', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        const run = await echo.trigger({ value: 'x' })
        const cancelled = nextEvent(durably, 'run:cancel')
        await durably.cancel(run.id)
        expect((await cancelled).runId).toBe(run.id)
        expect(await durably.processOne()).toBe(false)
        expect((await durably.getRun(run.id))?.status).toBe('cancelled')
      })

      it('stops a running run at its next step boundary and aborts the step signal', async () => {
        const { job: cancellable, held, entered, seen } = heldJob('cancellable')
        const durably = h.make()
        const { job } = durably.register({ job: cancellable })
        await durably.init()
        const run = await job.trigger({})
        await entered.promise
        await durably.cancel(run.id)
        held.open()
        await waitUntil(() => seen.firstAborted, { what: 'the aborted signal' })
        expect(seen.secondRan).toBe(false)
        expect((await durably.getRun(run.id))?.status).toBe('cancelled')
        expect(await durably.getSteps(run.id)).toEqual([])
      })

      it('answers NotFoundError for a missing run and ConflictError for a finished one', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        await expect(durably.cancel('missing')).rejects.toThrow(NotFoundError)
        const run = await echo.trigger({ value: 'x' })
        await durably.processOne()
        await expect(durably.cancel(run.id)).rejects.toThrow(ConflictError)
      })
    })

    describe('retry()', () => {
      it('resumes from the first unfinished step without re-executing finished ones', async () => {
        const calls: string[] = []
        let shouldFail = true
        const durably = h.make()
        const { job } = durably.register({
          job: defineJob({
            name: 'flaky',
            input: z.object({}),
            run: async (step) => {
              const a = await step.run('a', () => {
                calls.push('a')
                return 'A'
              })
              const b = await step.run('b', () => {
                calls.push('b')
                if (shouldFail) throw new Error('b broke')
                return 'B'
              })
              return a + b
            },
          }),
        })
        await durably.init()
        const failed = (await job
          .triggerAndWait({})
          .catch((error: unknown) => error)) as RunFailedError
        expect(failed).toBeInstanceOf(RunFailedError)
        expect((await durably.getRun(failed.runId))?.error).toBe('b broke')
        shouldFail = false
        const completed = nextEvent(
          durably,
          'run:complete',
          (event) => event.runId === failed.runId,
        )
        const retried = nextEvent(durably, 'run:retry')
        await durably.retry(failed.runId)
        expect((await retried).runId).toBe(failed.runId)
        expect((await completed).output).toBe('AB')
        expect(calls).toEqual(['a', 'b', 'b'])
      })

      it('answers NotFoundError for a missing run and ConflictError unless failed or cancelled', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        await expect(durably.retry('missing')).rejects.toThrow(NotFoundError)
        const run = await echo.trigger({ value: 'x' })
        await expect(durably.retry(run.id)).rejects.toThrow(ConflictError)
        await durably.processOne()
        await expect(durably.retry(run.id)).rejects.toThrow(ConflictError)
      })
    })

    describe('deleteRun()', () => {
      it('removes a finished run with its steps and logs', async () => {
        const durably = h.make()
        durably.use(withLogPersistence())
        const { job } = durably.register({
          job: defineJob({
            name: 'deletable',
            input: z.object({}),
            run: async (step) => {
              step.log.info('x')
              return step.run('a', () => 1)
            },
          }),
        })
        const run = await job.trigger({})
        await durably.processOne()
        await waitUntil(async () => (await durably.getLogs(run.id)).length === 1)
        await durably.deleteRun(run.id)
        expect(await durably.getRun(run.id)).toBeNull()
        expect(await durably.getSteps(run.id)).toEqual([])
        expect(await durably.getLogs(run.id)).toEqual([])
      })

      it('refuses a pending run with ConflictError and a missing one with NotFoundError', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        const run = await echo.trigger({ value: 'x' })
        await expect(durably.deleteRun(run.id)).rejects.toThrow(ConflictError)
        await expect(durably.deleteRun('missing')).rejects.toThrow(NotFoundError)
        expect(await durably.getRun(run.id)).not.toBeNull()
      })
    })

    describe('getRuns()', () => {
      it('returns the newest first, stable for runs created in one millisecond', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        const runs = await echo.batchTrigger(
          Array.from({ length: 20 }, (_, i) => ({ value: String(i) })),
        )
        const listed = await durably.getRuns()
        expect(listed.map((run) => run.id)).toEqual(runs.map((run) => run.id).reverse())
      })

      it('filters by status and job name and pages with limit and offset', async () => {
        const durably = h.make()
        const other = defineJob({ name: 'other', input: z.object({}), run: async () => null })
        const { echo, more } = durably.register({ echo: echoJob, more: other })
        const runs = await echo.batchTrigger([{ value: '1' }, { value: '2' }, { value: '3' }])
        await more.trigger({})
        await durably.cancel(runs[0]!.id)
        expect(await durably.getRuns({ jobName: 'other' })).toHaveLength(1)
        expect((await durably.getRuns({ status: 'cancelled' })).map((run) => run.id)).toEqual([
          runs[0]!.id,
        ])
        const page = await durably.getRuns({ jobName: 'echo', limit: 1, offset: 1 })
        expect(page.map((run) => run.id)).toEqual([runs[1]!.id])
        expect(await echo.getRuns({ offset: 2 })).toHaveLength(1)
      })

      it('rejects a bogus status or a negative limit with InvalidArgumentError', async () => {
        const durably = h.make()
        await expect(durably.getRuns({ status: 'bogus' as never })).rejects.toThrow(
          InvalidArgumentError,
        )
        await expect(durably.getRuns({ limit: -1 })).rejects.toThrow(InvalidArgumentError)
      })
    })

    describe('triggerAndWait()', () => {
      const failing = defineJob({
        name: 'failing',
        input: z.object({}),
        run: async (step) =>
          step.run('boom', (): never => {
            throw new Error('kaboom')
          }),
      })

      it('rejects with the run error when the run fails', async () => {
        const durably = h.make()
        const { job } = durably.register({ job: failing })
        await durably.init()
        await expect(job.triggerAndWait({})).rejects.toThrow(/kaboom/)
      })

      it('rejects with CancelledError when the run is cancelled', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        const triggered = nextEvent(durably, 'run:trigger')
        // The expectation is attached first: the rejection may come before cancel() returns.
        const outcome = expect(echo.triggerAndWait({ value: 'x' })).rejects.toThrow(CancelledError)
        await durably.cancel((await triggered).runId)
        await outcome
      })

      it('rejects with TimeoutError on timeout while the run continues', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        await expect(echo.triggerAndWait({ value: 'x' }, { timeout: 50 })).rejects.toThrow(
          TimeoutError,
        )
        const [run] = await durably.getRuns()
        expect(run?.status).toBe('pending')
        await durably.processOne()
        expect((await durably.getRun(run!.id))?.status).toBe('completed')
      })

      it('resolves at once with the output of the finished run its idempotencyKey returns', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        const first = await echo.trigger({ value: 'first' }, { idempotencyKey: 'once' })
        await durably.processOne()
        // No worker: only reading the earlier run's row can settle this.
        const again = await echo.triggerAndWait(
          { value: 'second' },
          { idempotencyKey: 'once', timeout: 5000 },
        )
        expect(again).toEqual({ id: first.id, output: { echoed: 'first' } })
      })

      it('waits for the pending run its idempotencyKey returns, and resolves when it completes', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        const first = await echo.trigger({ value: 'first' }, { idempotencyKey: 'once' })
        const waiting = echo.triggerAndWait({ value: 'second' }, { idempotencyKey: 'once' })
        await durably.init()
        expect(await waiting).toEqual({ id: first.id, output: { echoed: 'first' } })
      })

      it('resolves when another instance executes the run', async () => {
        const waiter = h.make()
        const { echo } = waiter.register({ echo: echoJob })
        const executor = h.make({}, h.database.secondDialect())
        executor.register({ echo: echoJob })
        await waiter.migrate()
        await executor.init()
        const result = await echo.triggerAndWait({ value: 'far' }, { timeout: 10_000 })
        expect(result.output).toEqual({ echoed: 'far' })
      })
    })

    describe('subscribe()', () => {
      async function readAll(stream: ReadableStream<DurablyEvent>) {
        const events: DurablyEvent[] = []
        const reader = stream.getReader()
        for (;;) {
          const { done, value } = await reader.read()
          if (done) return events
          events.push(value)
        }
      }

      it('streams the run events in order and closes after the terminal event', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        const run = await echo.trigger({ value: 'x' })
        const reading = readAll(durably.subscribe(run.id))
        await durably.init()
        const events = await reading
        expect(events.map((event) => event.type)).toEqual([
          'run:start',
          'step:start',
          'step:complete',
          'run:complete',
        ])
      })

      it('sends the terminal event and closes for a run that already finished', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        const run = await echo.trigger({ value: 'x' })
        await durably.processOne()
        const events = await readAll(durably.subscribe(run.id))
        expect(events).toMatchObject([{ type: 'run:complete', output: { echoed: 'x' } }])
      })

      it('releases its listeners when the reader cancels', async () => {
        const durably = h.make()
        const { echo } = durably.register({ echo: echoJob })
        const run = await echo.trigger({ value: 'x' })
        const before = durably.listenerCount()
        const reader = durably.subscribe(run.id).getReader()
        expect(durably.listenerCount()).toBe(before + 1)
        await reader.cancel()
        expect(durably.listenerCount()).toBe(before)
      })
    })
  })
}
