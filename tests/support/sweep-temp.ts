/**
 * vitest global setup: remove what test runs that crashed (or were killed) left in the temp
 * folder. Only entries of ours older than an hour go, so a run beside this one keeps its files.
 */
import { readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const OURS = /^durably-/
const STALE_MS = 60 * 60 * 1000

export default function sweepStaleTempFiles(): void {
  const now = Date.now()
  for (const name of readdirSync(tmpdir())) {
    if (!OURS.test(name)) continue
    const path = join(tmpdir(), name)
    try {
      if (now - statSync(path).mtimeMs > STALE_MS) rmSync(path, { recursive: true, force: true })
    } catch {
      // Gone already, or not ours to remove: either way nothing to do.
    }
  }
}
