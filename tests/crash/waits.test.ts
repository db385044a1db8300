/**
 * Waiting for the world under SIGKILL, with 1, 2 and 4 worker processes on a libSQL file and
 * 4 on PostgreSQL: waits-check.ts's mix without its sleeps (sleep.test.ts has those). `waiter`
 * runs wait for a `crash/go` event matching their `n`, half of them for a signal to the run
 * instead: half of either sent as the runs are triggered, the others one by one during the
 * chaos, each once its run waits (twice with one id, as a webhook retried would be). `parent` runs invoke a
 * `kid` child run, so parent and child often run in different processes and die separately.
 * `flaky` runs retry a step after backoffs long enough to hand the run back. Beyond the journal checks of crash.test.ts: every waiter took exactly its
 * own event or signal, once; every parent created exactly one child and resumed with its
 * output; every attempt ran once; no step was recorded twice; and no step after a wait began
 * before the wait could end (the event or signal stored, the child completed, the backoff over).
 */
import { afterEach, describe, expect, it } from 'vitest'
import {
  CRASH_CASES,
  checkJournal,
  crashSeed,
  openObserver,
  readJournal,
  runChaos,
  type Scenario,
  scenarioFor,
  seededRandom,
} from './harness.js'
import {
  checkWaits,
  completedRuns,
  triggerWaits,
  type WaitMix,
  type WaitsPlan,
} from './waits-check.js'

const WAITERS = Number(process.env.DURABLY_CRASH_WAITERS ?? 24)
const MIX: WaitMix = {
  sleep: 0,
  delayed: 0,
  event: WAITERS / 2,
  signal: WAITERS / 2,
  invoke: Number(process.env.DURABLY_CRASH_PARENTS ?? 16),
  retry: Number(process.env.DURABLY_CRASH_FLAKY ?? 8),
}
const KILLS = Number(process.env.DURABLY_CRASH_WAIT_KILLS ?? 6)
/** The late events and signals arrive over this long (ms). */
const SPREAD_MS = 3000

describe('events, signals, child runs and retry backoffs under SIGKILL', () => {
  let scenario: Scenario | undefined
  afterEach(async () => {
    await scenario?.cleanup()
    scenario = undefined
  })

  it.each(CRASH_CASES)(
    '$processes $backend worker process(es): each waiter takes its one event or signal, each parent one child, each backoff waited out, nothing lost or doubled',
    async ({ backend, processes }) => {
      scenario = await scenarioFor(backend)
      if (!scenario) return
      const seed = crashSeed()
      const workload = seededRandom(seed ^ 0xe7e7)
      let plan: WaitsPlan | undefined
      const chaos = await runChaos(scenario, {
        processes,
        runs: completedRuns(MIX),
        kills: KILLS,
        seed,
        async trigger(observer) {
          plan = await triggerWaits(observer, MIX, SPREAD_MS, workload)
        },
      })
      const sendFailures = await plan!.sending

      const entries = readJournal(scenario.journalFile)
      const verdict = checkJournal(entries, chaos.killedAt, chaos.kills)
      const observer = openObserver(scenario)
      const judged = await checkWaits(
        observer,
        plan!,
        entries,
        chaos,
        verdict.reexecutions,
      ).finally(() => observer.destroy())
      console.log(
        `[crash] waits ${backend} × ${processes}: ${MIX.event} event and ${MIX.signal} signal ` +
          `waiters, ${MIX.invoke} parents, ${MIX.retry} flaky runs; ${chaos.kills} kills, ` +
          `${judged.reexecutions} re-executions; ` +
          `waited before the end: ${JSON.stringify(judged.waitedBeforeEnd)}; ` +
          `${chaos.seconds.toFixed(1)} s (seed ${seed})`,
      )
      expect(sendFailures, `seed ${seed}`).toEqual([])
      expect(verdict.violations, `seed ${seed}`).toEqual([])
      expect(judged.violations, `seed ${seed}`).toEqual([])
      // Not vacuous: the late half of the events and signals came while their runs waited.
      expect(judged.waitedBeforeEnd.event).toBeGreaterThanOrEqual(Math.floor(MIX.event / 2))
      expect(judged.waitedBeforeEnd.signal).toBeGreaterThanOrEqual(Math.floor(MIX.signal / 2))
      expect(judged.waited.retry.waits, `seed ${seed}`).toBeGreaterThan(0)
      expect(chaos.kills).toBeGreaterThan(0)
    },
    120_000,
  )
})
