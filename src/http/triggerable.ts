/**
 * `triggerableJobs` entries name a job either by its name (`sync-users`) or by the key it was
 * registered under (`syncUsers`), since the README's own example uses the key. Keys are looked
 * up per request: jobs may be registered after the handler is created, and an entry that
 * matches nothing yet simply matches nothing.
 */
import type { DurablyLike } from './types.js'

export function triggerableMatcher(
  durably: Pick<DurablyLike, 'jobs'>,
  entries: readonly string[] | undefined,
): (jobName: string) => boolean {
  if (!entries) return () => true
  const allowed = new Set(entries)
  return (jobName) => {
    if (allowed.has(jobName)) return true
    const byKey = durably.jobs as Readonly<Record<string, { readonly name: string } | undefined>>
    for (const key of allowed) {
      if (Object.hasOwn(byKey, key) && byKey[key]?.name === jobName) return true
    }
    return false
  }
}
