/**
 * Worker sightings: a started instance records, for each job it registered, that a worker
 * runs it, and renews that while it runs. `blockedBy: 'no-worker'` is a ready run whose job
 * nobody has been seen running lately: the question "why is nothing happening?" answered
 * before anyone has to ask it. `readRunWithBlocker` is how `getRun` (on the instance and on
 * each job handle) attaches the answer.
 */
import { type Core, isoNow, reportError } from './engine/core.js'
import type { Run } from './types.js'

/** How often a started instance renews its sightings. */
export const SIGHTING_INTERVAL_MS = 30_000
/** A job not sighted for this long has no worker, as far as `blockedBy` can tell. */
export const SIGHTING_TTL_MS = 3 * SIGHTING_INTERVAL_MS

export interface Sightings {
  start(): void
  stop(): void
}

export function createSightings(core: Core): Sightings {
  let timer: ReturnType<typeof setInterval> | undefined
  const sight = async () => {
    try {
      await core.ready()
      await core.store.sightWorkers(core.jobNames(), isoNow(core))
    } catch (error) {
      reportError(core, 'sighting', error)
    }
  }
  return {
    start() {
      if (timer) return
      void sight()
      timer = setInterval(() => void sight(), SIGHTING_INTERVAL_MS)
      // A sighting is worth nothing to a process that has nothing else left to do.
      ;(timer as { unref?: () => void }).unref?.()
    },
    stop() {
      if (timer) clearInterval(timer)
      timer = undefined
    },
  }
}

/** The moment before which a sighting is too old to count. */
function sightingHorizon(core: Pick<Core, 'now'>): string {
  return new Date(core.now() - SIGHTING_TTL_MS).toISOString()
}

/** A run as `getRun` answers it: with why it is not running (`blockedBy`) when it is pending. */
export async function readRunWithBlocker(
  core: Pick<Core, 'now' | 'store'>,
  id: string,
): Promise<Run | null> {
  const run = await core.store.getRun(id)
  if (run?.status !== 'pending') return run
  const now = new Date(core.now()).toISOString()
  return { ...run, blockedBy: await core.store.blockedBy(id, now, sightingHorizon(core)) }
}
