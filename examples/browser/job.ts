import { type Durably, defineJob } from 'durably'
import { sql } from 'kysely'
import { z } from 'zod'

export const STEPS = 10

/**
 * Ten slow steps. Each body records that it executed (in the same database, so every tab
 * sees it) so a test can check that no finished step ever runs again.
 */
export function importJob(durably: () => Durably, tab: string) {
  return defineJob({
    name: 'import-photos',
    input: z.object({ album: z.string() }),
    output: z.object({ album: z.string(), photos: z.number() }),
    run: async (step, { album }) => {
      for (let index = 0; index < STEPS; index++) {
        await step.run(`batch-${index}`, async () => {
          await sql`INSERT INTO example_executions (run_id, step, tab) VALUES (${step.runId}, ${index}, ${tab})`.execute(
            durably().db,
          )
          await new Promise((resolve) => setTimeout(resolve, 300))
          return { photos: 10 }
        })
        step.progress(index + 1, STEPS, `batch ${index + 1} of ${STEPS}`)
      }
      return { album, photos: STEPS * 10 }
    },
  })
}
