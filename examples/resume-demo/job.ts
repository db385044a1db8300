/**
 * The demo's job: six slow steps that each record which process executed them, so the
 * final table shows the first steps done by the killed process and the rest by its
 * successor, with nothing done twice.
 */

import { defineJob } from 'durably'
import { z } from 'zod'

export const STEPS = ['download', 'unpack', 'validate', 'transform', 'index', 'publish'] as const

export const importCatalog = defineJob({
  name: 'import-catalog',
  input: z.object({ catalog: z.string() }),
  output: z.object({ catalog: z.string(), steps: z.number() }),
  run: async (step, { catalog }) => {
    for (const [index, name] of STEPS.entries()) {
      await step.run(name, async () => {
        console.log(`  [pid ${process.pid}] executing step ${index + 1}/${STEPS.length}: ${name}`)
        await new Promise((resolve) => setTimeout(resolve, 400))
        return { executedBy: process.pid }
      })
      step.progress(index + 1, STEPS.length, name)
    }
    return { catalog, steps: STEPS.length }
  },
})
