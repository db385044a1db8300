/**
 * The jobs crash scenarios run. Every step body writes `begin` before its side effect and
 * `end` after it to the journal; the job writes `returned` once `step.run` has returned, so
 * the journal shows what ran where, when, and what must never run again.
 *
 * - `work`: four steps in a row.
 * - `sleeper`: a step, a durable `step.sleep` of `napMs`, a step; the job writes `returned`
 *   for the sleep too (`woke`, in effect), so a kill right at wake-up shows in the journal.
 * - `cronTick` (only where `cron` is asked for, so other scenarios see no scheduled runs):
 *   a one-second cron whose one step records the tick's execution.
 */
import { z } from 'zod'
import { defineJob } from '../../src/index.js'
import type { Journal } from './journal.js'

export const STEP_NAMES = ['fetch', 'transform', 'store', 'notify'] as const
export const SLEEPER_STEPS = ['before', 'nap', 'after'] as const
export const CRON_JOB = 'cron-tick'
export const CRON_STEP = 'record'

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

  return { work, sleeper }
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
