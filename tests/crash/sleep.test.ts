/**
 * Durable sleep and delayed starts under SIGKILL, with 1, 2 and 4 worker processes on a
 * libSQL file and 4 on PostgreSQL. Each `sleeper` run does a step, sleeps 50–300 ms with
 * `step.sleep`, does another step; two thirds of them are triggered with a `delay` of up to
 * 6 s, so that starts and wake-ups are spread over the whole chaos. Kills land in the steps,
 * during the sleeps (the run belongs to no process then) and right at wake-up.
 * Beyond the journal checks of crash.test.ts: the step after a sleep never begins before the
 * recorded wake-up time, a sleep is recorded once per run, and a delayed run never begins
 * before its `availableAt`.
 */
import { afterEach, describe, expect, it } from 'vitest'
import {
  type ChaosResult,
  CRASH_CASES,
  checkJournal,
  countByStatus,
  crashSeed,
  openObserver,
  readJournal,
  runChaos,
  type Scenario,
  scenarioFor,
  seededRandom,
} from './harness.js'
import { SLEEPER_STEPS } from './jobs.js'
import type { JournalEntry } from './journal.js'
import { killMoments } from './waits-check.js'

const RUNS = Number(process.env.DURABLY_CRASH_SLEEP_RUNS ?? 48)
const KILLS = Number(process.env.DURABLY_CRASH_SLEEP_KILLS ?? 6)
const [BEFORE, NAP, AFTER] = SLEEPER_STEPS

/** Where each kill landed, read from the killed process's journal lines before it died. */
function classifyKills(entries: JournalEntry[], victims: ChaosResult['victims']) {
  const landed = { inStep: 0, atWakeUp: 0, elsewhere: 0 }
  for (const victim of victims) {
    const mine = entries.filter((entry) => entry.pid === victim.pid && entry.t <= victim.t)
    const open = new Map<string, string>()
    for (const entry of mine) {
      if (!entry.step) continue
      const key = `${entry.run}/${entry.step}`
      if (entry.ev === 'begin') open.set(key, entry.ev)
      else if (entry.ev === 'end') open.delete(key)
    }
    // A run whose sleep this process saw end, and whose next step it had not begun.
    const woke = mine.some(
      (entry) =>
        entry.ev === 'returned' &&
        entry.step === NAP &&
        !mine.some((later) => later.run === entry.run && later.step === AFTER),
    )
    if (open.size > 0) landed.inStep += 1
    else if (woke) landed.atWakeUp += 1
    else landed.elsewhere += 1
  }
  return landed
}

describe('durable sleep and delayed starts under SIGKILL', () => {
  let scenario: Scenario | undefined
  afterEach(async () => {
    await scenario?.cleanup()
    scenario = undefined
  })

  it.each(CRASH_CASES)(
    '$processes $backend worker process(es): no step after a sleep or delayed start begins early, nothing lost or doubled',
    async ({ backend, processes }) => {
      scenario = await scenarioFor(backend)
      if (!scenario) return
      const seed = crashSeed()
      // Its own stream, so the workload does not shift the kill schedule of the seed.
      const workload = seededRandom(seed ^ 0x5eed)
      const delayedUntil = new Map<string, string>()
      const moments = killMoments()
      const chaos = await runChaos(scenario, {
        processes,
        runs: RUNS,
        kills: KILLS,
        seed,
        pause: moments.pause,
        async trigger(observer) {
          const items = Array.from({ length: RUNS }, (_, n) => {
            const input = { n, napMs: Math.round(50 + workload() * 250) }
            // Two thirds start later, spread over the chaos, so sleeps end all along it.
            return n % 3 === 0
              ? { input }
              : { input, options: { delay: Math.round(100 + workload() * 5900) } }
          })
          const runs = await observer.jobs.sleeper.batchTrigger(items)
          for (const run of runs) {
            if (run.waitingFor?.kind === 'delay') delayedUntil.set(run.id, run.availableAt!)
          }
        },
      })

      const entries = readJournal(scenario.journalFile)
      const observer = openObserver(scenario)
      const wakeAt = new Map<string, string>()
      try {
        expect(await countByStatus(observer)).toEqual({ completed: RUNS })
        const stillWaiting = await observer.db
          .selectFrom('durably_runs')
          .select('id')
          .where('wait_for', 'is not', null)
          .execute()
        expect(stillWaiting).toEqual([])
        const steps = await observer.db
          .selectFrom('durably_steps')
          .select(['run_id', 'name'])
          .execute()
        // One recorded row per step of every run, the sleep included: nothing recorded twice.
        expect(steps.length).toBe(RUNS * SLEEPER_STEPS.length)
        expect(new Set(steps.map((step) => `${step.run_id}/${step.name}`)).size).toBe(steps.length)
        for (const run of await observer.jobs.sleeper.getRuns({ limit: RUNS })) {
          const naps = (await observer.getSteps(run.id)).filter((step) => step.name === NAP)
          expect(naps, `sleep steps of run ${run.id}`).toHaveLength(1)
          const until = (naps[0]?.output as { until?: unknown } | null)?.until
          expect(typeof until, `recorded wake time of run ${run.id}`).toBe('string')
          wakeAt.set(run.id, until as string)
        }
        expect(wakeAt.size).toBe(RUNS)
      } finally {
        await observer.destroy()
      }

      const early: string[] = []
      for (const entry of entries) {
        if (entry.ev !== 'begin') continue
        const until = entry.step === AFTER ? wakeAt.get(entry.run) : undefined
        if (until !== undefined && entry.now < Date.parse(until)) {
          early.push(`${entry.run}/${AFTER} began in ${entry.pid} at ${entry.now}, before ${until}`)
        }
        const start = entry.step === BEFORE ? delayedUntil.get(entry.run) : undefined
        if (start !== undefined && entry.now < Date.parse(start)) {
          early.push(`delayed ${entry.run} began in ${entry.pid} at ${entry.now}, before ${start}`)
        }
      }
      const verdict = checkJournal(entries, chaos.killedAt, chaos.kills)
      const landed = classifyKills(entries, chaos.victims)
      console.log(
        `[crash] sleep ${backend} × ${processes}: ${RUNS} runs (${delayedUntil.size} delayed), ` +
          `${chaos.kills} kills (${moments.aimed.count} aimed at a wake-up; ${landed.inStep} in a step, ` +
          `${landed.atWakeUp} after a sleep returned, ` +
          `${landed.elsewhere} between steps or while runs slept), ` +
          `${verdict.reexecutions} re-executions, ${chaos.seconds.toFixed(1)} s (seed ${seed})`,
      )
      expect(early, `seed ${seed}`).toEqual([])
      expect(verdict.violations, `seed ${seed}`).toEqual([])
      expect(chaos.kills).toBeGreaterThan(0)
    },
    120_000,
  )
})
