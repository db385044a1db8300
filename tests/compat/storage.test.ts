/**
 * Code written for `@coji/durably` 0.6.0's storage layer keeps working: every method takes
 * 0.6.0's argument shapes and answers with 0.6.0's result shapes (ids and timestamps filled
 * by the storage, `stepCount` counting completed steps, absent values as `null`), on every
 * backend. Tests named "… null …" check the null-versus-missing rule on its own, so a shape
 * regression reads as one.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  type Durably,
  type DurablyStorage,
  InvalidArgumentError,
  NotFoundError,
  type Run,
  type Step,
} from '../../src/index.js'
import { echoJob, type Harness, openHarness } from '../contract/harness.js'
import { libsqlBackend } from '../support/backends.js'
import { betterSqlite3Backend } from '../support/better-sqlite3.js'
import { postgresBackend } from '../support/postgres.js'

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/

/** Calls with shapes the types forbid, as plain JavaScript callers make them. */
const loosely = <T>(value: unknown) => value as T

for (const backend of [libsqlBackend, betterSqlite3Backend, postgresBackend]) {
  describe.skipIf(!!backend.unavailable)(`0.6.0 storage on ${backend.name}`, () => {
    let h: Harness
    let durably: Durably
    let storage: DurablyStorage
    beforeEach(async () => {
      h = await openHarness(backend)
      durably = h.make()
      storage = durably.storage
    })
    afterEach(async () => {
      await h.cleanup()
    })

    const newRun = (jobName = 'report', payload: unknown = { n: 1 }) =>
      storage.createRun({ jobName, payload })

    describe('createRun', () => {
      it('stores a pending run and fills its id, timestamps and counts', async () => {
        const before = Date.now()
        const run = await storage.createRun({ jobName: 'report', payload: { month: '2025-01' } })
        const after = Date.now()
        expect(run).toMatchObject({
          jobName: 'report',
          payload: { month: '2025-01' },
          status: 'pending',
          idempotencyKey: null,
          concurrencyKey: null,
          currentStepIndex: 0,
          stepCount: 0,
        })
        expect(run.id).toMatch(ULID)
        expect(run.createdAt).toMatch(ISO)
        expect(run.updatedAt).toBe(run.createdAt)
        const created = Date.parse(run.createdAt)
        expect(created).toBeGreaterThanOrEqual(before)
        expect(created).toBeLessThanOrEqual(after)
      })

      // heartbeatAt stays null until a worker claims the run: a heartbeat is a lease's.
      it('answers progress, output, error and heartbeatAt of a new run as null', async () => {
        const run = await newRun()
        expect(run.progress).toBeNull()
        expect(run.output).toBeNull()
        expect(run.error).toBeNull()
        expect(run.heartbeatAt).toBeNull()
      })

      it('keeps the idempotency and concurrency keys it was given', async () => {
        const run = await storage.createRun({
          jobName: 'report',
          payload: null,
          idempotencyKey: 'month-01',
          concurrencyKey: 'tenant-a',
        })
        expect(run).toMatchObject({
          payload: null,
          idempotencyKey: 'month-01',
          concurrencyKey: 'tenant-a',
        })
      })

      it('answers the existing run for a job name and idempotency key already used', async () => {
        const first = await storage.createRun({
          jobName: 'report',
          payload: { n: 1 },
          idempotencyKey: 'k',
        })
        const again = await storage.createRun({
          jobName: 'report',
          payload: { n: 2 },
          idempotencyKey: 'k',
        })
        const otherJob = await storage.createRun({
          jobName: 'invoice',
          payload: { n: 3 },
          idempotencyKey: 'k',
        })
        expect(again.id).toBe(first.id)
        expect(again.payload).toEqual({ n: 1 })
        expect(otherJob.id).not.toBe(first.id)
        expect(await storage.getRuns()).toHaveLength(2)
      })

      it('gives runs made one after another increasing ids', async () => {
        const ids = []
        for (let i = 0; i < 5; i++) ids.push((await newRun()).id)
        expect([...ids].sort()).toEqual(ids)
      })

      it.each([
        ['no jobName', { payload: {} }, /createRun: jobName is required/],
        ['an empty jobName', { jobName: '', payload: {} }, /jobName must be a non-empty string/],
        ['no payload', { jobName: 'report' }, /createRun: payload is required/],
        [
          'a misspelt key',
          { jobName: 'report', payload: {}, idempotencykey: 'k' },
          /"idempotencykey"/,
        ],
        [
          'a number as key',
          { jobName: 'report', payload: {}, concurrencyKey: 7 },
          /concurrencyKey/,
        ],
        ['no object', 'report', /expected an object/],
      ])('refuses %s with InvalidArgumentError and stores nothing', async (_, input, message) => {
        const attempt = storage.createRun(loosely(input))
        await expect(attempt).rejects.toThrow(InvalidArgumentError)
        await expect(storage.createRun(loosely(input))).rejects.toThrow(message)
        expect(await storage.getRuns()).toEqual([])
      })
    })

    describe('batchCreateRuns', () => {
      it('stores every run and answers them in the order given', async () => {
        const runs = await storage.batchCreateRuns([
          { jobName: 'report', payload: { n: 1 } },
          { jobName: 'report', payload: { n: 2 }, concurrencyKey: 'c' },
          { jobName: 'invoice', payload: { n: 3 } },
        ])
        expect(runs.map((run) => run.payload)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
        expect(runs.map((run) => run.jobName)).toEqual(['report', 'report', 'invoice'])
        expect(runs[1]!.concurrencyKey).toBe('c')
        expect(new Set(runs.map((run) => run.id)).size).toBe(3)
        for (const run of runs) {
          expect(run).toMatchObject({ status: 'pending', stepCount: 0, currentStepIndex: 0 })
          expect(run.id).toMatch(ULID)
          expect(run.createdAt).toMatch(ISO)
        }
        expect(await storage.getRuns()).toHaveLength(3)
      })

      it('answers an empty list for an empty list', async () => {
        expect(await storage.batchCreateRuns([])).toEqual([])
      })

      it('answers the existing run for an idempotency key already used', async () => {
        const existing = await storage.createRun({
          jobName: 'report',
          payload: { n: 0 },
          idempotencyKey: 'k',
        })
        const runs = await storage.batchCreateRuns([
          { jobName: 'report', payload: { n: 1 } },
          { jobName: 'report', payload: { n: 2 }, idempotencyKey: 'k' },
        ])
        expect(runs[1]!.id).toBe(existing.id)
        expect(runs[1]!.payload).toEqual({ n: 0 })
        expect(await storage.getRuns()).toHaveLength(2)
      })

      it('stores none when one item is wrong, and says which', async () => {
        const attempt = storage.batchCreateRuns(
          loosely([{ jobName: 'report', payload: {} }, { jobName: 'report' }]),
        )
        await expect(attempt).rejects.toThrow(InvalidArgumentError)
        await expect(
          storage.batchCreateRuns(
            loosely([{ jobName: 'report', payload: {} }, { jobName: 'report' }]),
          ),
        ).rejects.toThrow(/item 1: payload is required/)
        expect(await storage.getRuns()).toEqual([])
      })

      it('refuses something that is not an array', async () => {
        await expect(storage.batchCreateRuns(loosely({ jobName: 'report' }))).rejects.toThrow(
          InvalidArgumentError,
        )
      })
    })

    describe('updateRun', () => {
      it('writes status, progress, output and heartbeat, and moves updatedAt', async () => {
        const run = await newRun()
        await new Promise((resolve) => setTimeout(resolve, 5))
        await storage.updateRun(run.id, {
          status: 'running',
          progress: { current: 2, total: 10, message: 'halfway there' },
          heartbeatAt: '2025-01-02T03:04:05.000Z',
        })
        const running = (await storage.getRun(run.id))!
        expect(running).toMatchObject({
          status: 'running',
          progress: { current: 2, total: 10, message: 'halfway there' },
          heartbeatAt: '2025-01-02T03:04:05.000Z',
        })
        expect(Date.parse(running.updatedAt)).toBeGreaterThan(Date.parse(run.updatedAt))

        await storage.updateRun(run.id, { status: 'completed', output: { rows: 3 } })
        const completed = (await storage.getRun(run.id))!
        expect(completed).toMatchObject({ status: 'completed', output: { rows: 3 } })
      })

      it('stamps a heartbeat when a run is set running without one', async () => {
        const run = await newRun()
        const before = Date.now()
        await storage.updateRun(run.id, { status: 'running' })
        const heartbeat = Date.parse((await storage.getRun(run.id))!.heartbeatAt!)
        expect(heartbeat).toBeGreaterThanOrEqual(before)
      })

      it('writes and clears an error', async () => {
        const run = await newRun()
        await storage.updateRun(run.id, { status: 'failed', error: 'boom' })
        expect(await storage.getRun(run.id)).toMatchObject({ status: 'failed', error: 'boom' })
        await storage.updateRun(run.id, { status: 'pending', error: null })
        expect((await storage.getRun(run.id))!.status).toBe('pending')
      })

      it('answers a cleared error and progress as null', async () => {
        const run = await newRun()
        await storage.updateRun(run.id, {
          status: 'failed',
          error: 'boom',
          progress: { current: 1 },
        })
        await storage.updateRun(run.id, { status: 'pending', error: null, progress: null })
        const cleared = (await storage.getRun(run.id))!
        expect(cleared.error).toBeNull()
        expect(cleared.progress).toBeNull()
      })

      it('accepts currentStepIndex, which stays the number of completed steps', async () => {
        const run = await newRun()
        await storage.createStep({
          runId: run.id,
          name: 'a',
          index: 0,
          status: 'completed',
          output: 1,
        })
        await storage.updateRun(run.id, { currentStepIndex: 1 })
        expect(await storage.getRun(run.id)).toMatchObject({ currentStepIndex: 1, stepCount: 1 })
      })

      it('changes nothing, without error, for an unknown id', async () => {
        await expect(storage.updateRun('missing', { status: 'failed' })).resolves.toBeUndefined()
      })

      it.each([
        ['a misspelt key', { stauts: 'running' }, /unknown key "stauts"/],
        ['an unknown status', { status: 'done' }, /status must be one of/],
        ['a progress without current', { progress: { total: 3 } }, /progress must be/],
        ['a heartbeat that is no time', { heartbeatAt: 'soon' }, /heartbeatAt/],
      ])('refuses %s with InvalidArgumentError', async (_, data, message) => {
        const run = await newRun()
        await expect(storage.updateRun(run.id, loosely(data))).rejects.toThrow(InvalidArgumentError)
        await expect(storage.updateRun(run.id, loosely(data))).rejects.toThrow(message)
        expect((await storage.getRun(run.id))!.status).toBe('pending')
      })

      it('refuses a missing run id', async () => {
        await expect(storage.updateRun(loosely(undefined), {})).rejects.toThrow(
          /updateRun: runId is required/,
        )
      })
    })

    describe('deleteRun', () => {
      it('removes a run of any status with its steps and logs', async () => {
        const kept = await newRun()
        for (const status of ['pending', 'running', 'completed'] as const) {
          const run = await newRun()
          if (status !== 'pending') await storage.updateRun(run.id, { status })
          await storage.createStep({ runId: run.id, name: 's', index: 0, status: 'completed' })
          await storage.createLog({ runId: run.id, stepName: 's', level: 'info', message: 'm' })
          await storage.deleteRun(run.id)
          expect(await storage.getRun(run.id)).toBeNull()
          expect(await storage.getSteps(run.id)).toEqual([])
          expect(await storage.getLogs(run.id)).toEqual([])
        }
        expect((await storage.getRuns()).map((run) => run.id)).toEqual([kept.id])
      })

      it('resolves for an unknown id', async () => {
        await expect(storage.deleteRun('missing')).resolves.toBeUndefined()
      })

      it('refuses a missing run id', async () => {
        await expect(storage.deleteRun(loosely(undefined))).rejects.toThrow(InvalidArgumentError)
      })
    })

    describe('getRun and getRuns', () => {
      it('getRun answers what createRun answered, and null for an unknown id', async () => {
        const run = await newRun()
        expect(await storage.getRun(run.id)).toEqual(run)
        expect(await storage.getRun('missing')).toBeNull()
      })

      it('lists newest first, filtered by status and job, paged by limit and offset', async () => {
        const a = await newRun('report')
        const b = await newRun('invoice')
        const c = await newRun('report')
        await storage.updateRun(c.id, { status: 'completed' })
        expect((await storage.getRuns()).map((run) => run.id)).toEqual([c.id, b.id, a.id])
        expect((await storage.getRuns({ jobName: 'report' })).map((run) => run.id)).toEqual([
          c.id,
          a.id,
        ])
        expect((await storage.getRuns({ status: 'pending' })).map((run) => run.id)).toEqual([
          b.id,
          a.id,
        ])
        expect((await storage.getRuns({ limit: 1, offset: 1 })).map((run) => run.id)).toEqual([
          b.id,
        ])
        expect((await storage.getRuns({ offset: 2 })).map((run) => run.id)).toEqual([a.id])
      })

      it('counts completed steps on every listed run', async () => {
        const run = await newRun()
        await newRun()
        await storage.createStep({ runId: run.id, name: 'a', index: 0, status: 'completed' })
        await storage.createStep({ runId: run.id, name: 'b', index: 1, status: 'completed' })
        const counts = (await storage.getRuns()).map((listed) => [listed.id, listed.stepCount])
        expect(counts).toContainEqual([run.id, 2])
        expect(counts.filter(([, stepCount]) => stepCount === 0)).toHaveLength(1)
      })

      it.each([
        ['a misspelt key', { jobname: 'report' }, /unknown key "jobname"/],
        ['an unknown status', { status: 'done' }, /status must be one of/],
        ['a negative limit', { limit: -1 }, /limit must be a non-negative whole number/],
      ])('getRuns refuses %s with InvalidArgumentError', async (_, filter, message) => {
        await expect(storage.getRuns(loosely(filter))).rejects.toThrow(InvalidArgumentError)
        await expect(storage.getRuns(loosely(filter))).rejects.toThrow(message)
      })

      it('getRun refuses a missing id', async () => {
        await expect(storage.getRun(loosely(undefined))).rejects.toThrow(
          /getRun: runId is required/,
        )
      })
    })

    describe('getNextPendingRun', () => {
      it('answers the oldest pending run, without claiming it', async () => {
        const first = await newRun()
        await newRun()
        const next = await storage.getNextPendingRun([])
        expect(next).toEqual(first)
        expect(await storage.getNextPendingRun()).toEqual(first)
        expect((await storage.getRun(first.id))!.status).toBe('pending')
      })

      it('skips runs that are not pending, and answers null when none is', async () => {
        expect(await storage.getNextPendingRun([])).toBeNull()
        const done = await newRun()
        const started = await newRun()
        await storage.updateRun(done.id, { status: 'completed' })
        await storage.updateRun(started.id, { status: 'running' })
        expect(await storage.getNextPendingRun([])).toBeNull()
        const waiting = await newRun()
        expect((await storage.getNextPendingRun([]))!.id).toBe(waiting.id)
      })

      it('skips runs whose concurrency key is excluded, not runs without a key', async () => {
        const keyed = await storage.createRun({ jobName: 'r', payload: 1, concurrencyKey: 'a' })
        const other = await storage.createRun({ jobName: 'r', payload: 2, concurrencyKey: 'b' })
        const free = await storage.createRun({ jobName: 'r', payload: 3 })
        expect((await storage.getNextPendingRun(['a']))!.id).toBe(other.id)
        expect((await storage.getNextPendingRun(['a', 'b']))!.id).toBe(free.id)
        expect((await storage.getNextPendingRun(['b']))!.id).toBe(keyed.id)
      })

      it('skips a run whose concurrency key a running run holds', async () => {
        const running = await storage.createRun({ jobName: 'r', payload: 1, concurrencyKey: 'a' })
        await storage.updateRun(running.id, { status: 'running' })
        await storage.createRun({ jobName: 'r', payload: 2, concurrencyKey: 'a' })
        expect(await storage.getNextPendingRun([])).toBeNull()
        const free = await storage.createRun({ jobName: 'r', payload: 3, concurrencyKey: 'b' })
        expect((await storage.getNextPendingRun([]))!.id).toBe(free.id)
      })

      it('answers a resumed run with its completed steps counted', async () => {
        const run = await newRun()
        await storage.createStep({ runId: run.id, name: 'a', index: 0, status: 'completed' })
        expect(await storage.getNextPendingRun([])).toMatchObject({
          id: run.id,
          stepCount: 1,
          currentStepIndex: 1,
        })
      })

      it('refuses keys that are not an array of strings', async () => {
        await expect(storage.getNextPendingRun(loosely('a'))).rejects.toThrow(InvalidArgumentError)
        await expect(storage.getNextPendingRun(loosely([1]))).rejects.toThrow(InvalidArgumentError)
      })
    })

    describe('createStep, getSteps and getCompletedStep', () => {
      it('stores a step, fills its id and times, and answers it', async () => {
        const run = await newRun()
        const before = Date.now()
        const step = await storage.createStep({
          runId: run.id,
          name: 'fetch',
          index: 0,
          status: 'completed',
          output: { users: ['ada'] },
        })
        expect(step).toMatchObject({
          runId: run.id,
          name: 'fetch',
          index: 0,
          status: 'completed',
          output: { users: ['ada'] },
        })
        expect(step.id).toMatch(ULID)
        expect(step.startedAt).toMatch(ISO)
        expect(step.completedAt).toMatch(ISO)
        expect(Date.parse(step.completedAt!)).toBeGreaterThanOrEqual(before)
        expect(await storage.getSteps(run.id)).toEqual([step])
      })

      it('answers a missing output and error as null', async () => {
        const run = await newRun()
        const step = await storage.createStep({
          runId: run.id,
          name: 'save',
          index: 0,
          status: 'completed',
        })
        expect(step.output).toBeNull()
        expect(step.error).toBeNull()
        const failed = await storage.createStep({
          runId: run.id,
          name: 'send',
          index: 1,
          status: 'failed',
          error: 'timeout',
        })
        expect(failed).toMatchObject({ status: 'failed', error: 'timeout', output: null })
      })

      it('counts completed steps, not failed ones, in the run', async () => {
        const run = await newRun()
        await storage.createStep({
          runId: run.id,
          name: 'a',
          index: 0,
          status: 'completed',
          output: 1,
        })
        await storage.createStep({
          runId: run.id,
          name: 'b',
          index: 1,
          status: 'failed',
          error: 'x',
        })
        expect(await storage.getRun(run.id)).toMatchObject({ stepCount: 1, currentStepIndex: 1 })
        await storage.createStep({
          runId: run.id,
          name: 'b',
          index: 1,
          status: 'completed',
          output: 2,
        })
        expect(await storage.getRun(run.id)).toMatchObject({ stepCount: 2, currentStepIndex: 2 })
      })

      it('lists steps in index order', async () => {
        const run = await newRun()
        await storage.createStep({ runId: run.id, name: 'second', index: 1, status: 'completed' })
        await storage.createStep({ runId: run.id, name: 'first', index: 0, status: 'completed' })
        expect((await storage.getSteps(run.id)).map((step) => step.name)).toEqual([
          'first',
          'second',
        ])
        expect(await storage.getSteps('missing')).toEqual([])
      })

      it('getCompletedStep finds a completed step by name, and null otherwise', async () => {
        const run = await newRun()
        await storage.createStep({
          runId: run.id,
          name: 'a',
          index: 0,
          status: 'completed',
          output: 'A',
        })
        await storage.createStep({
          runId: run.id,
          name: 'b',
          index: 1,
          status: 'failed',
          error: 'x',
        })
        const found = (await storage.getCompletedStep(run.id, 'a')) as Step
        expect(found).toMatchObject({ name: 'a', index: 0, status: 'completed', output: 'A' })
        expect(await storage.getCompletedStep(run.id, 'b')).toBeNull()
        expect(await storage.getCompletedStep(run.id, 'c')).toBeNull()
        expect(await storage.getCompletedStep('missing', 'a')).toBeNull()
      })

      it('refuses a step for a run that does not exist, and stores nothing', async () => {
        const attempt = storage.createStep({
          runId: 'missing',
          name: 'a',
          index: 0,
          status: 'completed',
        })
        await expect(attempt).rejects.toThrow(NotFoundError)
        expect(await storage.getSteps('missing')).toEqual([])
      })

      it.each([
        ['no runId', { name: 'a', index: 0, status: 'completed' }, /createStep: runId is required/],
        ['no index', { runId: 'r', name: 'a', status: 'completed' }, /index is required/],
        ['a negative index', { runId: 'r', name: 'a', index: -1, status: 'completed' }, /index/],
        ['an unknown status', { runId: 'r', name: 'a', index: 0, status: 'done' }, /status/],
        [
          'a misspelt key',
          { runId: 'r', name: 'a', index: 0, status: 'completed', ouput: 1 },
          /"ouput"/,
        ],
      ])('createStep refuses %s with InvalidArgumentError', async (_, input, message) => {
        await expect(storage.createStep(loosely(input))).rejects.toThrow(InvalidArgumentError)
        await expect(storage.createStep(loosely(input))).rejects.toThrow(message)
      })

      it('getSteps and getCompletedStep refuse a missing argument', async () => {
        await expect(storage.getSteps(loosely(undefined))).rejects.toThrow(/runId is required/)
        const run = await newRun()
        await expect(storage.getCompletedStep(run.id, loosely(undefined))).rejects.toThrow(
          /getCompletedStep: name is required/,
        )
      })
    })

    describe('createLog and getLogs', () => {
      it('stores a log, fills its id and time, and answers it', async () => {
        const run = await newRun()
        const before = Date.now()
        const log = await storage.createLog({
          runId: run.id,
          stepName: 'fetch',
          level: 'warn',
          message: 'slow response',
          data: { ms: 900 },
        })
        expect(log).toMatchObject({
          runId: run.id,
          stepName: 'fetch',
          level: 'warn',
          message: 'slow response',
          data: { ms: 900 },
        })
        expect(log.id).toMatch(ULID)
        expect(log.createdAt).toMatch(ISO)
        expect(Date.parse(log.createdAt)).toBeGreaterThanOrEqual(before)
        expect(await storage.getLogs(run.id)).toEqual([log])
      })

      it('answers a log without data and step as null for both', async () => {
        const run = await newRun()
        const log = await storage.createLog({
          runId: run.id,
          stepName: null,
          level: 'info',
          message: 'started',
        })
        expect(log.stepName).toBeNull()
        expect(log.data).toBeNull()
      })

      it('lists logs oldest first', async () => {
        const run = await newRun()
        for (const message of ['one', 'two', 'three']) {
          await storage.createLog({ runId: run.id, stepName: null, level: 'info', message })
        }
        expect((await storage.getLogs(run.id)).map((log) => log.message)).toEqual([
          'one',
          'two',
          'three',
        ])
        expect(await storage.getLogs('missing')).toEqual([])
      })

      it('refuses a log for a run that does not exist', async () => {
        await expect(
          storage.createLog({ runId: 'missing', stepName: null, level: 'info', message: 'm' }),
        ).rejects.toThrow(NotFoundError)
      })

      it.each([
        [
          'no runId',
          { stepName: null, level: 'info', message: 'm' },
          /createLog: runId is required/,
        ],
        ['an unknown level', { runId: 'r', stepName: null, level: 'debug', message: 'm' }, /level/],
        ['no message', { runId: 'r', stepName: null, level: 'info' }, /message is required/],
        [
          'a misspelt key',
          { runId: 'r', stepname: 's', level: 'info', message: 'm' },
          /"stepname"/,
        ],
      ])('createLog refuses %s with InvalidArgumentError', async (_, input, message) => {
        await expect(storage.createLog(loosely(input))).rejects.toThrow(InvalidArgumentError)
        await expect(storage.createLog(loosely(input))).rejects.toThrow(message)
      })
    })

    describe('beside the engine', () => {
      it('a run created through the storage is executed by the worker', async () => {
        const view = durably.register({ echo: echoJob })
        const run = await storage.createRun({ jobName: 'echo', payload: { value: 'v' } })
        expect(await view.processOne()).toBe(true)
        const done = (await storage.getRun(run.id)) as Run
        expect(done).toMatchObject({
          status: 'completed',
          output: { echoed: 'v' },
          stepCount: 1,
          currentStepIndex: 1,
        })
        expect(await storage.getCompletedStep(run.id, 'echo')).toMatchObject({
          index: 0,
          output: 'v',
        })
      })
    })
  })
}
