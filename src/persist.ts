/**
 * Fenced writes of an execution, made patient. A finished step's result is worth keeping,
 * so a write the database refuses for a moment (busy, locked, connection reset) is retried
 * with backoff for up to half the stale threshold (after that another worker may rightly
 * take the run over). Each refusal is reported as `worker:error`. If the database stays
 * unavailable, the execution is abandoned without failing the run: it resumes later.
 */
import type { Core } from './core.js'
import { errorMessage, isDurablyError } from './errors.js'
import type { ExecutionControl } from './execution-control.js'

export async function persist(
  core: Core,
  control: ExecutionControl,
  context: string,
  runId: string,
  write: () => Promise<boolean>,
): Promise<boolean> {
  const deadline = core.now() + core.options.staleThreshold / 2
  let delay = 20
  for (;;) {
    try {
      return await write()
    } catch (error) {
      if (!isDurablyError(error) || error.code !== 'DATABASE') throw error
      core.emitter.emit({ type: 'worker:error', error: errorMessage(error), context, runId })
      if (core.now() + delay > deadline) {
        control.abandon(error)
        throw error
      }
      await new Promise((resolve) => setTimeout(resolve, delay))
      delay = Math.min(delay * 2, 1000)
    }
  }
}
