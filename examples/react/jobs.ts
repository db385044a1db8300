/**
 * The jobs, as the server registers them. The page imports this module's *type* only
 * (`import type { jobs }` in hooks.ts), so none of it reaches the browser.
 */
import { defineJob } from 'durably'
import { z } from 'zod'

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export const importPhotos = defineJob({
  name: 'import-photos',
  input: z.object({ album: z.string().min(1), photos: z.number().int().min(1).max(50) }),
  output: z.object({ album: z.string(), imported: z.number() }),
  run: async (step, { album, photos }) => {
    for (let photo = 1; photo <= photos; photo++) {
      // Each photo is a step: a restart resumes after the last one imported.
      await step.run(`photo-${photo}`, () => pause(250))
      step.log.info(`imported photo ${photo} of "${album}"`)
      step.progress(photo, photos, `photo ${photo} of ${photos}`)
    }
    return { album, imported: photos }
  },
})

/** What `durably.register` receives, and what `createDurablyHooks<typeof jobs>` is typed by. */
export const jobs = { importPhotos }
