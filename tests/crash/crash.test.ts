/**
 * SIGKILL at random moments, with 1, 2 and 4 worker processes on a libSQL file, 2 on
 * better-sqlite3 with `cacheStatements`, and 4 on PostgreSQL: no run lost, none completed twice, no step body in two processes at once, none
 * re-executed after it returned, re-executions no more than kills.
 */
import { afterEach, describe, expect, it } from 'vitest'
import {
  CRASH_CASES,
  checkJournal,
  countByStatus,
  crashSeed,
  openObserver,
  readJournal,
  runChaos,
  type Scenario,
  STEP_NAMES,
  scenarioFor,
} from './harness.js'

const RUNS = Number(process.env.DURABLY_CRASH_RUNS ?? 100)
const KILLS = Number(process.env.DURABLY_CRASH_KILLS ?? 20)

describe('crash safety under SIGKILL', () => {
  let scenario: Scenario | undefined
  afterEach(async () => {
    await scenario?.cleanup()
    scenario = undefined
  })

  it.each(CRASH_CASES)(
    '$processes $backend worker process(es): every run completes once, no step overlaps or repeats after returning',
    async ({ backend, processes }) => {
      scenario = await scenarioFor(backend)
      if (!scenario) return
      const seed = crashSeed()
      const chaos = await runChaos(scenario, { processes, runs: RUNS, kills: KILLS, seed })

      const observer = openObserver(scenario)
      try {
        expect(await countByStatus(observer)).toEqual({ completed: RUNS })
        const steps = await observer.db
          .selectFrom('durably_steps')
          .select(['run_id', 'name', 'status'])
          .execute()
        // One recorded row per step of every run: nothing recorded twice.
        expect(steps.length).toBe(RUNS * STEP_NAMES.length)
        expect(new Set(steps.map((step) => `${step.run_id}/${step.name}`)).size).toBe(steps.length)
      } finally {
        await observer.destroy()
      }
      const verdict = checkJournal(readJournal(scenario.journalFile), chaos.killedAt, chaos.kills)
      console.log(
        `[crash] ${backend} × ${processes}: ${RUNS} runs, ${chaos.kills} kills, ` +
          `${verdict.reexecutions} re-executions, ${chaos.seconds.toFixed(1)} s (seed ${seed})`,
      )
      expect(verdict.violations, `seed ${seed}`).toEqual([])
      expect(chaos.kills).toBeGreaterThan(0)
    },
    240_000,
  )
})
