/** The job of the OpenTelemetry crash test, shared by the test and its worker processes. */
import { z } from 'zod'
import { defineJob } from '../../src/index.js'

/** Step `one`, then `two`; with `hang`, `two` never ends (the process is killed in it). */
export function crashResumeJob(hang: boolean) {
  return defineJob({
    name: 'resumable',
    input: z.object({}),
    run: async (step) => {
      await step.run('one', () => 1)
      await step.run('two', () => (hang ? new Promise<number>(() => {}) : 2))
    },
  })
}
