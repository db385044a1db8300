/**
 * The hooks, typed by the server's jobs: `import type` brings the types across and nothing
 * else. A plain object of functions, created once at module level (safe under SSR too).
 */
import { createDurablyHooks } from 'durably/react'
import type { jobs } from './jobs.js'

export const { useJob, useRun, useRuns, useRunActions } = createDurablyHooks<typeof jobs>({
  api: '/api/durably',
})
