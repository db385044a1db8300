/**
 * Makes this process's wall clock wrong, as a machine's can be. Imported first by the worker
 * process; does nothing unless asked:
 * - DURABLY_CRASH_CLOCK_SKEW_MS: `Date.now()` is off by this much from the start.
 * - DURABLY_CRASH_CLOCK_JUMP=`<at>:<by>`: it jumps by `by` ms once real time (epoch ms)
 *   reaches `at`, as every process of one machine does when its clock is set.
 * The journal's own time (`performance`) is left true.
 */
const skew = Number(process.env.DURABLY_CRASH_CLOCK_SKEW_MS ?? 0)
const [jumpAt, jumpBy] = (process.env.DURABLY_CRASH_CLOCK_JUMP ?? '0:0').split(':').map(Number)

if (skew !== 0 || jumpBy !== 0) {
  const trueNow = Date.now
  Date.now = () => {
    const now = trueNow()
    return now + skew + (jumpBy && now >= (jumpAt ?? 0) ? jumpBy : 0)
  }
}
