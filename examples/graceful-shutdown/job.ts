import { defineJob } from 'durably'
import { z } from 'zod'

/** Five slow steps, so a SIGTERM usually lands in the middle of one. */
export const nightlyReport = defineJob({
  name: 'nightly-report',
  input: z.object({ day: z.string() }),
  run: async (step, { day }) => {
    for (const part of ['sales', 'stock', 'returns', 'payroll', 'summary']) {
      await step.run(part, async () => {
        console.log(`[pid ${process.pid}] ${day}: ${part}`)
        await new Promise((resolve) => setTimeout(resolve, 200))
        return { part, by: process.pid }
      })
    }
    return { day }
  },
})
