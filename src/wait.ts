/**
 * Waiting for a run to settle. In-process events answer at once; a poll of the run's row
 * every `pollingInterval` covers runs executed by another process. The row is read once
 * right after listening starts, so a run that settled before we listened is not missed.
 */
import type { Core } from './core.js'
import { CancelledError, NotFoundError, RunFailedError, TimeoutError } from './errors.js'
import type { Run } from './types.js'

export interface Settled {
  id: string
  output: unknown
}

export function waitForRun(core: Core, runId: string, timeout?: number): Promise<Settled> {
  return new Promise<Settled>((resolve, reject) => {
    let settled = false
    const cleanups: (() => void)[] = []
    const finish = (outcome: () => void) => {
      if (settled) return
      settled = true
      for (const cleanup of cleanups) cleanup()
      outcome()
    }
    const settleFromRun = (run: Run | null) => {
      if (!run)
        return finish(() =>
          reject(new NotFoundError(`Run ${runId} does not exist (was it deleted?)`)),
        )
      if (run.status === 'completed')
        return finish(() => resolve({ id: runId, output: run.output }))
      if (run.status === 'failed')
        return finish(() => reject(new RunFailedError(runId, run.error ?? `Run ${runId} failed`)))
      if (run.status === 'cancelled') return finish(() => reject(new CancelledError(runId)))
    }

    cleanups.push(
      core.emitter.onRun(runId, (event) => {
        switch (event.type) {
          case 'run:complete':
            return finish(() => resolve({ id: runId, output: event.output }))
          case 'run:fail':
            return finish(() => reject(new RunFailedError(runId, event.error)))
          case 'run:cancel':
            return finish(() => reject(new CancelledError(runId)))
          case 'run:delete':
            return settleFromRun(null)
        }
      }),
    )
    if (timeout !== undefined) {
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new TimeoutError(`Run ${runId} did not finish within ${timeout} ms (it continues)`),
            ),
          ),
        timeout,
      )
      cleanups.push(() => clearTimeout(timer))
    }
    const check = () => {
      core.store.getRun(runId).then(settleFromRun, () => {
        // A failed read is retried at the next poll; the run itself is unaffected.
      })
    }
    check()
    const poller = setInterval(check, core.options.pollingInterval)
    cleanups.push(() => clearInterval(poller))
  })
}
