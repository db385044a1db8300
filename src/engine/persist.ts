/**
 * Fenced writes of an execution, made patient. A finished step's result is worth keeping,
 * so a write the database refuses for a moment (busy, locked, connection reset) is retried
 * with backoff until half the stale threshold has passed: after that another worker may
 * rightly take the run over. This is the write's one budget: the store does not retry
 * fenced writes on its own (see store/resilient.ts). Each refusal is reported as
 * `worker:error`. If the database stays unavailable, the execution stops without failing
 * the run (reason `database-unavailable`): it resumes later.
 */
import type { DurablyError } from '../errors.js'
import { isDurablyError } from '../errors.js'
import type { WorkerErrorContext } from '../events.js'
import { FENCED_WRITE_BACKOFF, retry } from '../retry.js'
import type { ExecutionControl } from './control.js'
import { type Core, reportError } from './core.js'

export async function persist(
  core: Core,
  control: ExecutionControl,
  context: WorkerErrorContext,
  runId: string,
  write: () => Promise<boolean>,
): Promise<boolean> {
  try {
    // Not a spread: in Node 20's V8 each property after one costs about 1 µs (store/rows.ts).
    const patience = Object.assign({}, FENCED_WRITE_BACKOFF, {
      isRetryable: isDatabaseError,
      deadline: core.now() + core.options.staleThreshold / 2,
      now: core.now,
      onRetry: (error: unknown) => reportError(core, context, error, runId),
    })
    return await retry(write, patience)
  } catch (error) {
    if (isDatabaseError(error)) {
      reportError(core, context, error, runId)
      control.stop('database-unavailable', error)
    }
    throw error
  }
}

function isDatabaseError(error: unknown): error is DurablyError {
  return isDurablyError(error) && error.code === 'DATABASE'
}

/**
 * The engine's other queries during an execution (replay's read, a wait's lookup, a child's
 * idempotent insert). The store has already retried what may be retried, so a failure here
 * means the database is unavailable: it is reported, and the execution stops without
 * failing the run, which resumes later.
 */
export async function engineQuery<T>(
  core: Core,
  control: ExecutionControl,
  context: WorkerErrorContext,
  runId: string,
  query: () => Promise<T>,
): Promise<T> {
  try {
    return await query()
  } catch (error) {
    reportError(core, context, error, runId)
    control.stop('database-unavailable', error instanceof Error ? error : undefined)
    throw error
  }
}
