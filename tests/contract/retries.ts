/**
 * The contract of retries and timeouts, on every backend: a job's `retry` policy, a step's
 * `{ retry, timeout }`, `NonRetriableError`, `RetryAfterError`, the attempts kept, the events.
 * Backoffs are a few milliseconds, or long and then made due in the database: no test sleeps.
 */
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import type { Durably } from '../../src/index.js'
import {
  defineJob,
  InvalidArgumentError,
  NonRetriableError,
  RetryAfterError,
  TimeoutError,
} from '../../src/index.js'
import { nextEvent, recordEvents, waitUntil } from '../support/wait.js'
import type { Harness } from './harness.js'

const QUICK = { initial: 5, factor: 1, jitter: 0 }
const LONG = { initial: 3_600_000, jitter: 0 }

/** A job whose body fails its first `failures` attempts after a step that must not re-run. */
function flakyJob(failures: number, attempts: number, seen: { first: number; attempts: number[] }) {
  return defineJob({
    name: 'flaky',
    input: z.object({}),
    retry: { attempts, backoff: QUICK },
    run: async (step) => {
      await step.run('first', () => {
        seen.first += 1
      })
      seen.attempts.push(step.attempt)
      if (step.attempt <= failures) throw new Error(`attempt ${step.attempt} failed`)
      return { attempt: step.attempt }
    },
  })
}

/** Make a run that waits for a long backoff due now, as if the time had passed. */
async function makeDue(h: Harness, family: Family, runId: string): Promise<void> {
  const param = (n: number) => (family === 'postgres' ? `$${n}` : '?')
  await h.database.exec(
    `UPDATE durably_runs SET available_at = ${param(1)} WHERE id = ${param(2)}`,
    [new Date(Date.now() - 1000).toISOString(), runId],
  )
}

/** Claim and execute runs until `runId` is terminal (short backoffs fall due meanwhile). */
async function settle(durably: Durably, runId: string) {
  return waitUntil(
    async () => {
      await durably.processOne()
      const run = await durably.getRun(runId)
      return run && ['completed', 'failed', 'cancelled'].includes(run.status) ? run : null
    },
    { what: `run ${runId} to finish` },
  )
}

type Family = 'sqlite' | 'postgres'

export function defineRetrySuite(harness: () => Harness, family: Family): void {
  describe('defineJob({ retry })', () => {
    it('retries a run whose body throws until it succeeds, never re-running finished steps', async () => {
      const durably = harness().make()
      const seen = { first: 0, attempts: [] as number[] }
      const { flaky } = durably.register({ flaky: flakyJob(2, 3, seen) })
      const run = await flaky.trigger({})
      const done = await settle(durably, run.id)
      expect(done.status).toBe('completed')
      expect(done.output).toEqual({ attempt: 3 })
      expect(done.attempt).toBe(3)
      expect(seen).toEqual({ first: 1, attempts: [1, 2, 3] })
    })

    it('fails the run once its attempts are used, keeping every attempt’s error', async () => {
      const durably = harness().make()
      const seen = { first: 0, attempts: [] as number[] }
      const { flaky } = durably.register({ flaky: flakyJob(5, 3, seen) })
      const run = await flaky.trigger({})
      const done = await settle(durably, run.id)
      expect(done.status).toBe('failed')
      expect(done.error).toBe('attempt 3 failed')
      expect(done.attempt).toBe(3)
      const attempts = await durably.storage.getAttempts(run.id)
      expect(attempts.map((a) => [a.stepIndex, a.attempt, a.error])).toEqual([
        [null, 1, 'attempt 1 failed'],
        [null, 2, 'attempt 2 failed'],
        [null, 3, 'attempt 3 failed'],
      ])
      expect(attempts.every((a) => a.endedAt !== null)).toBe(true)
    })

    it('puts a failed attempt back to pending with a retry wait until its backoff has passed', async () => {
      const durably = harness().make()
      const { slow } = durably.register({
        slow: defineJob({
          name: 'slow',
          input: z.object({}),
          retry: { attempts: 2, backoff: LONG },
          run: async () => {
            throw new Error('not yet')
          },
        }),
      })
      const run = await slow.trigger({})
      const before = Date.now()
      await durably.processOne()
      const waiting = await durably.getRun(run.id)
      expect(waiting?.status).toBe('pending')
      expect(waiting?.attempt).toBe(1)
      expect(waiting?.waitingFor).toMatchObject({ kind: 'retry', attempt: 2, error: 'not yet' })
      const due = Date.parse(waiting!.availableAt!)
      expect(due).toBeGreaterThanOrEqual(before + 3_600_000)
      expect(waiting?.waitingFor).toMatchObject({ until: waiting?.availableAt })
      expect(await durably.processOne()).toBe(false)
    })

    it('stops retrying at once on NonRetriableError', async () => {
      const durably = harness().make()
      let calls = 0
      const { refused } = durably.register({
        refused: defineJob({
          name: 'refused',
          input: z.object({}),
          retry: { attempts: 5, backoff: QUICK },
          run: async () => {
            calls += 1
            throw new NonRetriableError('card declined')
          },
        }),
      })
      const run = await refused.trigger({})
      const done = await settle(durably, run.id)
      expect(done.status).toBe('failed')
      expect(done.error).toBe('card declined')
      expect(calls).toBe(1)
    })

    it('waits the delay a RetryAfterError asks for', async () => {
      const durably = harness().make()
      const { limited } = durably.register({
        limited: defineJob({
          name: 'limited',
          input: z.object({}),
          retry: { attempts: 3, backoff: QUICK },
          run: async () => {
            throw new RetryAfterError(120_000, 'rate limited')
          },
        }),
      })
      const run = await limited.trigger({})
      const before = Date.now()
      await durably.processOne()
      const waiting = await durably.getRun(run.id)
      expect(waiting?.waitingFor).toMatchObject({
        kind: 'retry',
        attempt: 2,
        error: 'rate limited',
      })
      const due = Date.parse(waiting!.availableAt!)
      expect(due).toBeGreaterThanOrEqual(before + 120_000)
      expect(due).toBeLessThanOrEqual(Date.now() + 120_000)
    })

    it('emits run:retry with the failed attempt, the delay and the error', async () => {
      const durably = harness().make()
      const seen = { first: 0, attempts: [] as number[] }
      const { flaky } = durably.register({ flaky: flakyJob(1, 2, seen) })
      const events = recordEvents(durably, ['run:retry', 'run:wait'])
      const run = await flaky.trigger({})
      await settle(durably, run.id)
      expect(events[0]).toMatchObject({
        type: 'run:retry',
        runId: run.id,
        attempt: 1,
        delay: 5,
        error: 'attempt 1 failed',
      })
      expect(events[1]).toMatchObject({
        type: 'run:wait',
        waitingFor: { kind: 'retry', attempt: 2 },
      })
    })

    it('Run.attempt is 0 before the first start and counts each start after a failure', async () => {
      const durably = harness().make()
      const seen = { first: 0, attempts: [] as number[] }
      const { flaky } = durably.register({ flaky: flakyJob(0, 3, seen) })
      const run = await flaky.trigger({})
      expect(run.attempt).toBe(0)
      expect((await settle(durably, run.id)).attempt).toBe(1)
    })

    it('retry() of a run that used its attempts gives it a fresh set', async () => {
      const durably = harness().make()
      const state = { broken: true, attempts: [] as number[] }
      const { fixable } = durably.register({
        fixable: defineJob({
          name: 'fixable',
          input: z.object({}),
          retry: { attempts: 2, backoff: QUICK },
          run: async (step) => {
            state.attempts.push(step.attempt)
            if (state.broken) throw new Error('broken')
            return { attempt: step.attempt }
          },
        }),
      })
      const run = await fixable.trigger({})
      expect((await settle(durably, run.id)).status).toBe('failed')
      state.broken = false
      await durably.retry(run.id)
      const retried = await settle(durably, run.id)
      expect(retried.status).toBe('completed')
      expect(retried.output).toEqual({ attempt: 1 })
      expect(state.attempts).toEqual([1, 2, 1])
    })
  })

  describe('step.run(name, fn, { retry, timeout })', () => {
    it('retries a step body in place, giving it its attempt number', async () => {
      const durably = harness().make()
      const tries: number[] = []
      const { job } = durably.register({
        job: defineJob({
          name: 'job',
          input: z.object({}),
          run: async (step) =>
            step.run(
              'call',
              (_signal, { attempt }) => {
                tries.push(attempt)
                if (attempt < 3) throw new Error(`flake ${attempt}`)
                return 'ok'
              },
              { retry: { attempts: 3, backoff: QUICK } },
            ),
        }),
      })
      const run = await job.trigger({})
      expect(await durably.processOne()).toBe(true)
      const done = await durably.getRun(run.id)
      expect(done?.status).toBe('completed')
      expect(done?.output).toBe('ok')
      expect(done?.attempt).toBe(1)
      expect(tries).toEqual([1, 2, 3])
      const [step] = await durably.getSteps(run.id)
      expect(step?.attempts?.map((a) => [a.attempt, a.error])).toEqual([
        [1, 'flake 1'],
        [2, 'flake 2'],
        [3, null],
      ])
      expect(step?.attempts?.every((a) => a.endedAt !== null)).toBe(true)
      const listed = await durably.storage.getAttempts(run.id)
      expect(listed.map((a) => [a.stepIndex, a.stepName, a.attempt, a.endedAt !== null])).toEqual([
        [0, 'call', 1, true],
        [0, 'call', 2, true],
        [0, 'call', 3, true],
      ])
    })

    it('emits step:retry with the failed attempt, the delay and the error', async () => {
      const durably = harness().make()
      const { job } = durably.register({
        job: defineJob({
          name: 'job',
          input: z.object({}),
          run: async (step) =>
            step.run(
              'call',
              (_signal, { attempt }) => {
                if (attempt === 1) throw new Error('flake')
                return attempt
              },
              { retry: { attempts: 2, backoff: QUICK } },
            ),
        }),
      })
      const retried = nextEvent(durably, 'step:retry')
      await job.trigger({})
      await durably.processOne()
      expect(await retried).toMatchObject({
        stepName: 'call',
        stepIndex: 0,
        attempt: 1,
        delay: 5,
        error: 'flake',
      })
    })

    it('releases the run for a long step backoff and resumes at the next attempt', async () => {
      const h = harness()
      const durably = h.make()
      const ran = { before: 0, tries: [] as number[] }
      const { job } = durably.register({
        job: defineJob({
          name: 'job',
          input: z.object({}),
          run: async (step) => {
            await step.run('before', () => {
              ran.before += 1
            })
            return step.run(
              'call',
              (_signal, { attempt }) => {
                ran.tries.push(attempt)
                if (attempt === 1) throw new Error('down')
                return 'up'
              },
              { retry: { attempts: 2, backoff: LONG } },
            )
          },
        }),
      })
      const run = await job.trigger({})
      await durably.processOne()
      const waiting = await durably.getRun(run.id)
      expect(waiting?.status).toBe('pending')
      expect(waiting?.waitingFor).toMatchObject({
        kind: 'retry',
        step: 'call',
        stepIndex: 1,
        attempt: 2,
        error: 'down',
      })
      await makeDue(h, family, run.id)
      const done = await settle(durably, run.id)
      expect(done.status).toBe('completed')
      expect(done.output).toBe('up')
      // A step's retry is not a run attempt: the run resumed its one attempt.
      expect(done.attempt).toBe(1)
      expect(ran).toEqual({ before: 1, tries: [1, 2] })
      const steps = await durably.getSteps(run.id)
      expect(steps[1]?.attempts?.map((a) => [a.attempt, a.error])).toEqual([
        [1, 'down'],
        [2, null],
      ])
    })

    it('aborts the step’s signal at its timeout and fails that attempt with TimeoutError', async () => {
      const durably = harness().make()
      let reason: unknown
      const { job } = durably.register({
        job: defineJob({
          name: 'job',
          input: z.object({}),
          run: async (step) =>
            step.run(
              'call',
              (signal, { attempt }) => {
                if (attempt > 1) return 'second try'
                return new Promise((_, reject) =>
                  signal.addEventListener('abort', () => {
                    reason = signal.reason
                    reject(signal.reason)
                  }),
                )
              },
              { timeout: 30, retry: { attempts: 2, backoff: QUICK } },
            ),
        }),
      })
      const run = await job.trigger({})
      await durably.processOne()
      expect(reason).toBeInstanceOf(TimeoutError)
      expect((await durably.getRun(run.id))?.output).toBe('second try')
      const [step] = await durably.getSteps(run.id)
      expect(step?.attempts?.[0]?.error).toMatch(/timed out after 30 ms/)
    })

    it('fails the attempt at its timeout even when the body ignores its signal', async () => {
      const durably = harness().make()
      const { job } = durably.register({
        job: defineJob({
          name: 'job',
          input: z.object({}),
          run: async (step) =>
            step.run('call', () => new Promise<never>(() => {}), { timeout: 20 }),
        }),
      })
      const run = await job.trigger({})
      await durably.processOne()
      const done = await durably.getRun(run.id)
      expect(done?.status).toBe('failed')
      expect(done?.error).toMatch(/timed out after 20 ms/)
    })

    it('fails the run when a step body throws past its attempts', async () => {
      const durably = harness().make()
      let calls = 0
      const { job } = durably.register({
        job: defineJob({
          name: 'job',
          input: z.object({}),
          run: async (step) =>
            step.run(
              'call',
              () => {
                calls += 1
                throw new Error(`failure ${calls}`)
              },
              { retry: { attempts: 2, backoff: QUICK } },
            ),
        }),
      })
      const run = await job.trigger({})
      await durably.processOne()
      const done = await durably.getRun(run.id)
      expect(done?.status).toBe('failed')
      expect(done?.error).toBe('failure 2')
      expect(calls).toBe(2)
      const [step] = await durably.getSteps(run.id)
      expect(step?.status).toBe('failed')
      expect(step?.attempts?.map((a) => a.error)).toEqual(['failure 1', 'failure 2'])
    })

    it('stops retrying a step at once on NonRetriableError', async () => {
      const durably = harness().make()
      let calls = 0
      const { job } = durably.register({
        job: defineJob({
          name: 'job',
          input: z.object({}),
          run: async (step) =>
            step.run(
              'call',
              () => {
                calls += 1
                throw new NonRetriableError('gone for good')
              },
              { retry: { attempts: 4, backoff: QUICK } },
            ),
        }),
      })
      const run = await job.trigger({})
      await durably.processOne()
      expect((await durably.getRun(run.id))?.error).toBe('gone for good')
      expect(calls).toBe(1)
    })

    it('gives a failed step a fresh set of attempts when the run retries', async () => {
      const durably = harness().make()
      const tries: [number, number][] = []
      const { job } = durably.register({
        job: defineJob({
          name: 'job',
          input: z.object({}),
          retry: { attempts: 2, backoff: QUICK },
          run: async (step) =>
            step.run(
              'call',
              (_signal, { attempt }) => {
                tries.push([step.attempt, attempt])
                if (step.attempt === 1) throw new Error('not on the first run attempt')
                return attempt
              },
              { retry: { attempts: 2, backoff: QUICK } },
            ),
        }),
      })
      const run = await job.trigger({})
      const done = await settle(durably, run.id)
      expect(done.status).toBe('completed')
      expect(tries).toEqual([
        [1, 1],
        [1, 2],
        [2, 1],
      ])
      const steps = await durably.getSteps(run.id)
      expect(steps.map((s) => [s.status, s.attempts?.length])).toEqual([
        ['failed', 2],
        ['completed', 1],
      ])
    })
  })

  describe('bad retry and timeout options', () => {
    it.each([
      ['attempts of 0', { attempts: 0 }],
      ['fractional attempts', { attempts: 1.5 }],
      ['attempts that are a string', { attempts: '3' }],
      ['no attempts', {}],
      ['a negative initial delay', { attempts: 2, backoff: { initial: -1 } }],
      ['a NaN max', { attempts: 2, backoff: { max: Number.NaN } }],
      ['a factor below 1', { attempts: 2, backoff: { factor: 0.5 } }],
      ['a jitter above 1', { attempts: 2, backoff: { jitter: 1.5 } }],
      ['an unknown key', { attempts: 2, retries: 3 }],
      ['an unknown backoff key', { attempts: 2, backoff: { base: 10 } }],
    ])('defineJob refuses %s with InvalidArgumentError', (_, retry) => {
      expect(() =>
        defineJob({
          name: 'bad',
          input: z.object({}),
          retry: retry as never,
          run: async () => null,
        }),
      ).toThrow(InvalidArgumentError)
    })

    it.each([
      ['a timeout of 0', { timeout: 0 }],
      ['a negative timeout', { timeout: -5 }],
      ['an infinite timeout', { timeout: Number.POSITIVE_INFINITY }],
      ['attempts of 0', { retry: { attempts: 0 } }],
      ['an unknown option', { retries: 3 }],
    ])('fails the run for a step.run with %s with InvalidArgumentError', async (_, options) => {
      const durably = harness().make()
      let caught: unknown
      let ran = false
      const { bad } = durably.register({
        bad: defineJob({
          name: 'bad',
          input: z.object({}),
          run: async (step) => {
            try {
              await step.run(
                'call',
                () => {
                  ran = true
                },
                options as never,
              )
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
      expect(ran).toBe(false)
      expect((await durably.getRun(run.id))?.status).toBe('failed')
    })

    it('RetryAfterError refuses a negative delay with InvalidArgumentError', () => {
      expect(() => new RetryAfterError(-1)).toThrow(InvalidArgumentError)
    })
  })
}
