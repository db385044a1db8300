/**
 * Makes this process's wall clock wrong, as a machine's can be. Imported first by the worker
 * process; does nothing unless asked:
 * - DURABLY_CRASH_CLOCK_SKEW_MS: `Date.now()` is off by this much from the start.
 * - DURABLY_CRASH_CLOCK_JUMP_FILE: once this file appears holding `<at>:<by>`, the clock
 *   jumps by `by` ms when real time (epoch ms) reaches `at`, as every process of one machine
 *   does when its clock is set. The test writes the file once every process is up, so how
 *   long a process takes to start never decides whether it sees the jump.
 * The journal's own time (`performance`) is left true.
 */
import { readFileSync } from 'node:fs'

const skew = Number(process.env.DURABLY_CRASH_CLOCK_SKEW_MS ?? 0)
const jumpFile = process.env.DURABLY_CRASH_CLOCK_JUMP_FILE
let jumpAt = Number.POSITIVE_INFINITY
let jumpBy = 0

if (jumpFile) {
  const watch = setInterval(() => {
    let text: string
    try {
      text = readFileSync(jumpFile, 'utf8')
    } catch {
      return // not written yet
    }
    const [at, by] = text.split(':').map(Number)
    if (!Number.isFinite(at) || !Number.isFinite(by)) return
    jumpAt = at!
    jumpBy = by!
    clearInterval(watch)
  }, 20)
  watch.unref()
}

if (skew !== 0 || jumpFile) {
  const trueNow = Date.now
  Date.now = () => {
    const now = trueNow()
    return now + skew + (now >= jumpAt ? jumpBy : 0)
  }
}
