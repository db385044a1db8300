/**
 * Letting the host breathe. An embedded database answers synchronously, so a busy worker's
 * claims, steps and completions chain as microtasks and never return to the event loop:
 * timers (heartbeats), I/O (an HTTP server in the same process) and native finalizers
 * (libSQL frees statements only from the event loop) would starve while work remains.
 * Each instance yields a macrotask turn once it has held the loop for `budgetMs`.
 */

type Schedule = (callback: () => void) => void

const scheduleMacrotask: Schedule =
  typeof globalThis.setImmediate === 'function'
    ? (callback) => globalThis.setImmediate(callback)
    : (callback) => setTimeout(callback, 0)

export function createYielder(now: () => number, budgetMs = 10): () => Promise<void> | undefined {
  let since = now()
  return () => {
    if (now() - since < budgetMs) return undefined
    return new Promise<void>((resolve) =>
      scheduleMacrotask(() => {
        since = now()
        resolve()
      }),
    )
  }
}
