/**
 * The jobs crash scenarios run. Every step body writes `begin` before its side effect and
 * `end` after it to the journal; the job writes `returned` once `step.run` has returned, so
 * the journal shows what ran where, when, and what must never run again.
 *
 * - `work`: four steps in a row.
 * - `sleeper`: a step, a durable `step.sleep` of `napMs`, a step; the job writes `returned`
 *   for the sleep too (`woke`, in effect), so a kill right at wake-up shows in the journal.
 * - `doomedStep` and `doomedRun`: kill their own process, in a step with `retry` or in a
 *   job body with `retry`, every time: their attempts must end them, failed.
 * - `cronTick` (only where `cron` is asked for, so other scenarios see no scheduled runs):
 *   a one-second cron whose one step records the tick's execution.
 * - `limited` (at most `GROUP_LIMIT` running runs per `group` of its input) and `throttled`
 *   (at most `THROTTLE_LIMIT` first starts per `THROTTLE_PERIOD` ms): three timed steps each,
 *   so the journal shows how many bodies of one key were inside at any instant.
 * - `flaky`: one step with `retry` whose first `FLAKY_FAILURES` attempts throw, each backoff
 *   long enough to hand the run back (a `retry` wait). Each attempt is journaled as its own
 *   step, `try@<attempt>`: a retry is a new attempt, not a re-execution, and one attempt
 *   number must never run twice.
 */
import { z } from 'zod'
import { defineJob, type StepContext } from '../../src/index.js'
import type { Journal } from './journal.js'

export const STEP_NAMES = ['fetch', 'transform', 'store', 'notify'] as const
export const SLEEPER_STEPS = ['before', 'nap', 'after'] as const
export const WAITER_STEPS = ['before', 'go', 'after'] as const
export const PARENT_STEPS = ['before', 'kid', 'after'] as const
export const KID_STEPS = ['first', 'second'] as const
export const GO_EVENT = 'crash/go'
export const DOOMED_STEP = 'boom'
export const DOOMED_ATTEMPTS = 3
export const CRON_JOB = 'cron-tick'
export const CRON_STEP = 'record'
export const FLOW_STEPS = ['one', 'two', 'three'] as const
export const GROUP_LIMIT = 2
export const THROTTLE_LIMIT = 3
export const THROTTLE_PERIOD = 1000
export const FLAKY_STEP = 'try'
export const FLAKY_FAILURES = 2
/**
 * `flaky`'s backoff: 1200 ms after its first attempt, × 1.5 after each further one, no
 * jitter. Above the engine's hold limit (1 s), so every backoff hands the run back.
 */
export const FLAKY_BACKOFF = { initial: 1200, factor: 1.5, jitter: 0 } as const
/** Room for kills: an attempt a kill cuts short counts as one. */
export const FLAKY_ATTEMPTS = 20
/** The journal's name for one attempt of `flaky`'s step. */
export const flakyAttempt = (attempt: number) => `${FLAKY_STEP}@${attempt}`

export function crashJobs(journal: Journal, stepMs: () => number) {
  const timedStep = (runId: string, name: string) => async () => {
    journal.write({ ev: 'begin', run: runId, step: name })
    await new Promise((resolve) => setTimeout(resolve, stepMs()))
    journal.write({ ev: 'end', run: runId, step: name })
    return { pid: process.pid }
  }

  const work = defineJob({
    name: 'work',
    input: z.object({ n: z.number() }),
    run: async (step, { n }) => {
      let value = n
      for (const name of STEP_NAMES) {
        const result = await step.run(name, async () => {
          journal.write({ ev: 'begin', run: step.runId, step: name })
          await new Promise((resolve) => setTimeout(resolve, stepMs()))
          journal.write({ ev: 'end', run: step.runId, step: name })
          return { value: value + 1, pid: process.pid }
        })
        value = result.value
        journal.write({ ev: 'returned', run: step.runId, step: name })
      }
      return { value }
    },
  })

  const sleeper = defineJob({
    name: 'sleeper',
    input: z.object({ n: z.number(), napMs: z.number() }),
    run: async (step, { n, napMs }) => {
      const [before, nap, after] = SLEEPER_STEPS
      await step.run(before, timedStep(step.runId, before))
      journal.write({ ev: 'returned', run: step.runId, step: before })
      await step.sleep(nap, napMs)
      journal.write({ ev: 'returned', run: step.runId, step: nap })
      await step.run(after, timedStep(step.runId, after))
      journal.write({ ev: 'returned', run: step.runId, step: after })
      return { n }
    },
  })

  /** Waits for the event `crash/go` matching its `n`; returns the event's data. */
  const waiter = defineJob({
    name: 'waiter',
    input: z.object({ n: z.number() }),
    run: async (step, { n }) => {
      const [before, go, after] = WAITER_STEPS
      await step.run(before, timedStep(step.runId, before))
      journal.write({ ev: 'returned', run: step.runId, step: before })
      const data = await step.waitForEvent(go, { event: GO_EVENT, match: { n } })
      journal.write({ ev: 'returned', run: step.runId, step: go })
      await step.run(after, timedStep(step.runId, after))
      journal.write({ ev: 'returned', run: step.runId, step: after })
      return { data }
    },
  })

  const kid = defineJob({
    name: 'kid',
    input: z.object({ n: z.number() }),
    run: async (step, { n }) => {
      for (const name of KID_STEPS) {
        await step.run(name, timedStep(step.runId, name))
        journal.write({ ev: 'returned', run: step.runId, step: name })
      }
      return { kid: n }
    },
  })

  /** Invokes `kid` and resumes with its output, whichever process runs either. */
  const parent = defineJob({
    name: 'parent',
    input: z.object({ n: z.number() }),
    run: async (step, { n }) => {
      const [before, child, after] = PARENT_STEPS
      await step.run(before, timedStep(step.runId, before))
      journal.write({ ev: 'returned', run: step.runId, step: before })
      const output = await step.invoke(child, kid, { n })
      journal.write({ ev: 'returned', run: step.runId, step: child })
      await step.run(after, timedStep(step.runId, after))
      journal.write({ ev: 'returned', run: step.runId, step: after })
      return output
    },
  })

  const die = (runId: string, name: string): never => {
    journal.write({ ev: 'begin', run: runId, step: name })
    process.kill(process.pid, 'SIGKILL')
    throw new Error('unreachable: the process was killed')
  }

  const doomedStep = defineJob({
    name: 'doomed-step',
    input: z.object({}),
    run: async (step) => {
      await step.run(DOOMED_STEP, () => die(step.runId, DOOMED_STEP), {
        retry: { attempts: DOOMED_ATTEMPTS },
      })
    },
  })

  const doomedRun = defineJob({
    name: 'doomed-run',
    input: z.object({}),
    retry: { attempts: DOOMED_ATTEMPTS },
    run: async (step) => die(step.runId, 'body'),
  })

  /** Three timed steps, journaled: what `limited` and `throttled` run. */
  const flowBody = async (step: StepContext) => {
    for (const name of FLOW_STEPS) {
      await step.run(name, timedStep(step.runId, name))
      journal.write({ ev: 'returned', run: step.runId, step: name })
    }
  }

  const limited = defineJob({
    name: 'limited',
    input: z.object({ group: z.string(), n: z.number() }),
    concurrency: { limit: GROUP_LIMIT, key: (input) => input.group },
    run: async (step, { n }) => {
      await flowBody(step)
      return { n }
    },
  })

  const throttled = defineJob({
    name: 'throttled',
    input: z.object({ n: z.number() }),
    throttle: { limit: THROTTLE_LIMIT, period: THROTTLE_PERIOD },
    run: async (step, { n }) => {
      await flowBody(step)
      return { n }
    },
  })

  const flaky = defineJob({
    name: 'flaky',
    input: z.object({ n: z.number() }),
    run: async (step, { n }) => {
      const output = await step.run(
        FLAKY_STEP,
        async (_signal, { attempt }) => {
          await timedStep(step.runId, flakyAttempt(attempt))()
          if (attempt <= FLAKY_FAILURES) throw new Error(`attempt ${attempt} fails on purpose`)
          return { n, attempt }
        },
        { retry: { attempts: FLAKY_ATTEMPTS, backoff: FLAKY_BACKOFF } },
      )
      journal.write({ ev: 'returned', run: step.runId, step: FLAKY_STEP })
      return output
    },
  })

  return {
    work,
    sleeper,
    waiter,
    kid,
    parent,
    doomedStep,
    doomedRun,
    limited,
    throttled,
    flaky,
  }
}

export function cronJobs(journal: Journal, stepMs: () => number) {
  const cronTick = defineJob({
    name: CRON_JOB,
    input: z.object({ source: z.string() }),
    schedule: { cron: '* * * * * *', input: { source: 'cron' } },
    run: async (step, { source }) => {
      await step.run(CRON_STEP, async () => {
        journal.write({ ev: 'begin', run: step.runId, step: CRON_STEP })
        await new Promise((resolve) => setTimeout(resolve, stepMs()))
        journal.write({ ev: 'end', run: step.runId, step: CRON_STEP })
      })
      journal.write({ ev: 'returned', run: step.runId, step: CRON_STEP })
      return { source }
    },
  })
  return { cronTick }
}
