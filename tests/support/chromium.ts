/** Debian's chromium (installed by .ci/run); playwright downloads no browser of its own here. */
import { execFileSync } from 'node:child_process'

export function findChromium(): string | undefined {
  if (process.env.DURABLY_CHROMIUM) return process.env.DURABLY_CHROMIUM
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}
