/**
 * Telling a dead worker from a slow one without waiting for `staleThreshold`, where the
 * platform can: in browsers every worker holds a Web Lock named after its lease owner for
 * as long as it lives, and the browser releases it the moment the tab closes or crashes.
 * A run whose owner holds no lock was abandoned and can be resumed at once. Where Web Locks
 * are absent (Node), nothing changes: abandoned runs wait out the stale threshold.
 */
import type { LivenessSnapshot } from '../store/store.js'

interface LockManagerLike {
  request(name: string, callback: () => Promise<void>): Promise<void>
  query(): Promise<{ held?: { name?: string }[] }>
}

export interface OwnerLiveness {
  /** Hold `owner`'s lock; resolves once it is held, with the function that releases it. */
  hold(owner: string): Promise<() => void>
  snapshot(): Promise<LivenessSnapshot>
}

const LOCK_PREFIX = 'durably:owner:'

export function detectOwnerLiveness(now: () => number): OwnerLiveness | undefined {
  const locks = (globalThis as { navigator?: { locks?: Partial<LockManagerLike> } }).navigator
    ?.locks
  if (typeof locks?.request !== 'function' || typeof locks.query !== 'function') return undefined
  const manager = locks as LockManagerLike
  return {
    hold(owner) {
      return new Promise((held) => {
        void manager.request(
          `${LOCK_PREFIX}${owner}`,
          () =>
            new Promise<void>((release) => {
              held(release)
            }),
        )
      })
    },
    async snapshot() {
      const observedAt = new Date(now()).toISOString()
      const { held = [] } = await manager.query()
      const aliveOwners = held
        .map((lock) => lock.name ?? '')
        .filter((name) => name.startsWith(LOCK_PREFIX))
        .map((name) => name.slice(LOCK_PREFIX.length))
      return { aliveOwners, observedAt }
    },
  }
}
