/**
 * Every store method rejects with a DurablyError: driver errors become `DatabaseError`.
 * What may be tried again depends on what the method does, so each method declares its
 * kind in `METHOD_KINDS` (an exhaustive record: a new method does not compile until it is
 * classified):
 * - `repeatable`: same result when sent twice (reads, renewing a lease). Retried when the
 *   database is busy and when a pooled connection was lost under it.
 * - `once`: a write. Retried only when the database refused it as busy (it did not run);
 *   never after a lost connection, since its commit might already have happened.
 * - `fenced`: an execution's fenced write. Not retried here: its caller (`persist`) owns one
 *   budget for it, bounded by the lease, so retries cannot stack.
 */
import { DatabaseError, isDurablyError } from '../errors.js'
import {
  BUSY_BACKOFF,
  BUSY_BUDGET_MS,
  backoffDelay,
  pause,
  RECONNECT_ATTEMPTS,
  RECONNECT_BACKOFF,
} from '../retry.js'
import type { SqlFamily } from './family.js'
import type { Store } from './store.js'

type MethodKind = 'repeatable' | 'once' | 'fenced'

const METHOD_KINDS = {
  migrate: 'repeatable',
  databaseTime: 'repeatable',
  insertRuns: 'once',
  debounceRun: 'once',
  blockedBy: 'repeatable',
  sightWorkers: 'repeatable',
  getRun: 'repeatable',
  getRuns: 'repeatable',
  latestIdempotencyKey: 'repeatable',
  getSteps: 'repeatable',
  getAttempts: 'repeatable',
  insertLog: 'once',
  getLogs: 'repeatable',
  deleteRun: 'once',
  purgeRuns: 'once',
  purgeEvents: 'once',
  getTraceContext: 'repeatable',
  cancelRun: 'once',
  retryRun: 'once',
  claimNextRun: 'once',
  heartbeat: 'repeatable',
  commitStep: 'fenced',
  saveProgress: 'fenced',
  completeRun: 'fenced',
  completeRunAndClaim: 'fenced',
  failRun: 'fenced',
  releaseRun: 'once',
  suspendRun: 'fenced',
  nextWakeAt: 'repeatable',
  getRecordedSteps: 'repeatable',
  findEvent: 'repeatable',
  insertEvent: 'once',
  beginStepAttempt: 'fenced',
  endAttempt: 'repeatable',
  recordRunAttempt: 'repeatable',
} as const satisfies Record<keyof Store, MethodKind>

export function withDatabaseErrors(
  store: Store,
  family: SqlFamily,
  recover: () => Promise<void>,
  now: () => number,
): Store {
  const wrapped: Partial<Record<keyof Store, unknown>> = {}
  for (const name of Object.keys(METHOD_KINDS) as (keyof Store)[]) {
    // Optional methods a family does not offer stay absent.
    if (store[name] === undefined) continue
    const method = store[name] as (...args: unknown[]) => Promise<unknown>
    const kind: MethodKind = METHOD_KINDS[name]
    wrapped[name] = async (...args: unknown[]) => {
      const deadline = now() + BUSY_BUDGET_MS
      let busyFailures = 0
      let reconnects = 0
      for (;;) {
        try {
          return await method(...args)
        } catch (error) {
          if (isDurablyError(error)) throw error
          if (
            kind === 'repeatable' &&
            reconnects < RECONNECT_ATTEMPTS &&
            family.isConnectionLost(error)
          ) {
            reconnects += 1
            await pause(backoffDelay(RECONNECT_BACKOFF, reconnects))
            continue
          }
          const busy = family.isBusy(error)
          if (busy) await recover().catch(() => undefined)
          if (busy && kind !== 'fenced') {
            busyFailures += 1
            const delay = backoffDelay(BUSY_BACKOFF, busyFailures)
            if (now() + delay < deadline) {
              await pause(delay)
              continue
            }
          }
          const detail = busy && kind !== 'fenced' ? ` (still busy after ${BUSY_BUDGET_MS} ms)` : ''
          throw new DatabaseError(
            `Database error in ${name}${detail}: ${(error as Error)?.message ?? String(error)}`,
            { cause: error },
          )
        }
      }
    }
  }
  return wrapped as Store
}
