/**
 * The jobs crash scenarios run. Every step body writes `begin` before its side effect and
 * `end` after it to the journal; the job writes `returned` once `step.run` has returned, so
 * the journal shows what ran where, when, and what must never run again.
 */
import { z } from 'zod'
import { defineJob } from '../../src/index.js'
import type { Journal } from './journal.js'

export const STEP_NAMES = ['fetch', 'transform', 'store', 'notify'] as const

export function crashJobs(journal: Journal, stepMs: () => number) {
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
  return { work }
}
