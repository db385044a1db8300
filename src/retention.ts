/**
 * Retention: removing finished runs, on demand (`purgeRuns`) and in the background (the
 * `retention` option). A purge is a loop of short batches, each one statement of at most
 * `PURGE_BATCH` runs, stepping aside between batches: a claim or a trigger never waits
 * behind more than one batch, however many rows a purge removes in all.
 */
import { type Core, reportError } from './engine/core.js'
import { pause } from './retry.js'
import type { TerminalStatus } from './types.js'

/**
 * Runs per statement. Each run also takes its steps, logs, attempts and signals with it, so
 * the statement stays short (bench/workloads/purge.ts measures what a claim waits meanwhile).
 */
export const PURGE_BATCH = 100

/** The background purge pauses this long between batches: claims go first. */
const BACKGROUND_PAUSE_MS = 20
/** A background sweep runs at least this often… */
const MAX_SWEEP_INTERVAL_MS = 5 * 60_000
/** …and the first one this soon after start, so short-lived processes sweep too. */
const MAX_FIRST_SWEEP_MS = 10_000

export interface PurgeBatches {
  olderThan: Date
  statuses?: readonly TerminalStatus[]
  jobName?: string
  /** At most this many runs in all (unbounded when absent). */
  limit?: number
  /** Also remove broadcast events older than `olderThan` that no unfinished run could take. */
  events: boolean
  /** Between batches: 0 still yields to the event loop, so queued statements go first. */
  pauseMs: number
  /** Checked between batches: a stopping instance ends its sweep after the current batch. */
  stopped?: () => boolean
}

/** Remove finished runs (and old events) batch by batch; returns how many runs went. */
export async function purgeInBatches(core: Core, request: PurgeBatches): Promise<number> {
  const olderThan = request.olderThan.toISOString()
  const limit = request.limit ?? Number.POSITIVE_INFINITY
  const loop = async (batch: (size: number) => Promise<number>, total: number) => {
    let removed = 0
    while (removed < total && !request.stopped?.()) {
      const size = Math.min(PURGE_BATCH, total - removed)
      const count = await batch(size)
      removed += count
      if (count < size) break
      await pause(request.pauseMs)
    }
    return removed
  }
  const removed = await loop(
    (size) =>
      core.store.purgeRuns({
        olderThan,
        ...(request.statuses ? { statuses: request.statuses } : {}),
        ...(request.jobName !== undefined ? { jobName: request.jobName } : {}),
        limit: size,
      }),
    limit,
  )
  if (request.events) {
    await loop((size) => core.store.purgeEvents(olderThan, size), Number.POSITIVE_INFINITY)
  }
  return removed
}

/** Milliseconds each terminal status is kept (resolved from the `retention` option). */
export type RetentionPeriods = Partial<Record<TerminalStatus, number>>

export interface RetentionSweeper {
  start(): void
  /** Stop sweeping; resolves once the batch in flight (if any) is done. */
  stop(): Promise<void>
}

/**
 * The background purge: every few minutes (sooner for short periods, so a run outlives its
 * period by at most half of it), each status's runs older than its period, then broadcast
 * events older than the longest period. Runs while the worker is started.
 */
export function createRetention(core: Core, periods: RetentionPeriods): RetentionSweeper {
  const entries = Object.entries(periods) as [TerminalStatus, number][]
  const shortest = Math.min(...entries.map(([, ms]) => ms))
  const longest = Math.max(...entries.map(([, ms]) => ms))
  const interval = Math.min(MAX_SWEEP_INTERVAL_MS, Math.max(1, shortest / 2))
  let timer: ReturnType<typeof setTimeout> | undefined
  let sweeping: Promise<void> | undefined
  let running = false

  const sweep = async () => {
    for (const [status, ms] of entries) {
      await purgeInBatches(core, {
        olderThan: new Date(core.now() - ms),
        statuses: [status],
        events: false,
        pauseMs: BACKGROUND_PAUSE_MS,
        stopped: () => !running,
      })
    }
    if (!running) return
    await purgeInBatches(core, {
      olderThan: new Date(core.now() - longest),
      statuses: [],
      events: true,
      pauseMs: BACKGROUND_PAUSE_MS,
      stopped: () => !running,
    })
  }

  const schedule = (delay: number) => {
    timer = setTimeout(() => {
      sweeping = sweep()
        .catch((error: unknown) => reportError(core, 'retention', error))
        .finally(() => {
          sweeping = undefined
          if (running) schedule(interval)
        })
    }, delay)
  }

  return {
    start() {
      if (running || entries.length === 0) return
      running = true
      schedule(Math.min(interval, MAX_FIRST_SWEEP_MS))
    },
    async stop() {
      running = false
      clearTimeout(timer)
      timer = undefined
      await sweeping
    },
  }
}
