/**
 * Flow control under SIGKILL, with 1, 2 and 4 worker processes on a libSQL file and 4 on
 * PostgreSQL. Each process executes up to 3 runs at once, so even one process alone would
 * exceed a limit of 2 if the claim did not hold it; each kill takes a process with a step
 * body inside, so it is cut short and its run taken over.
 * - `limited` runs (`concurrency: { limit: 2, key: group }`, three groups): at no instant were
 *   more than 2 step bodies of one group inside, computed from the journal's intervals (a body
 *   cut short by SIGKILL ends at its kill); nor did the database, sampled every few ms while
 *   the chaos ran, ever hold more than 2 of a group `running`, or a slot at or above 2.
 * - `throttled` runs (`throttle: { limit: 3, period: 1000 }`): no more than 3 first starts
 *   (the runs' `startedAt`) in any 1000 ms window, across processes and takeovers.
 * Both, beyond crash.test.ts's journal checks: nothing lost, no step recorded twice, and a
 * body re-executed only after the process that ran it before was killed.
 */
import { afterEach, describe, expect, it } from 'vitest'
import {
  busyVictim,
  checkConcurrencyInJournal,
  interruptedBodies,
  maxStartsPerWindow,
  type RunningSample,
  reexecutionsWithoutKill,
  sampleRunning,
} from './flow-check.js'
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
} from './harness.js'
import { FLOW_STEPS, GROUP_LIMIT, THROTTLE_LIMIT, THROTTLE_PERIOD } from './jobs.js'
import type { JournalEntry } from './journal.js'

const GROUPS = ['a', 'b', 'c'] as const
const PER_GROUP = Number(process.env.DURABLY_CRASH_FLOW_PER_GROUP ?? 24)
const THROTTLED = Number(process.env.DURABLY_CRASH_THROTTLED ?? 30)
/**
 * Half the runs for one process: there each kill stops all work for a restart (2-3 s on two
 * busy cores), so the kills alone fill the time; with more processes, the others work on
 * while one restarts, and the full workload keeps the kills landing mid-body.
 */
const share = (runs: number, processes: number) => (processes === 1 ? Math.ceil(runs / 2) : runs)
const KILLS = Number(process.env.DURABLY_CRASH_FLOW_KILLS ?? 6)
/** Runs one worker process executes at once: above the group limit, so the claim must hold it. */
const PER_PROCESS = 3

describe('flow control under SIGKILL', () => {
  let scenario: Scenario | undefined
  afterEach(async () => {
    await scenario?.cleanup()
    scenario = undefined
  })

  /** Every run completed once, each step recorded once. */
  async function expectNothingLostOrDoubled(runs: number) {
    const observer = openObserver(scenario!)
    try {
      expect(await countByStatus(observer)).toEqual({ completed: runs })
      const steps = await observer.db
        .selectFrom('durably_steps')
        .select(['run_id', 'name'])
        .execute()
      expect(steps.length).toBe(runs * FLOW_STEPS.length)
      expect(new Set(steps.map((step) => `${step.run_id}/${step.name}`)).size).toBe(steps.length)
    } finally {
      await observer.destroy()
    }
  }

  /**
   * crash.test.ts's journal checks, with re-executions bounded by what the kills could cut
   * short (each killed process held up to PER_PROCESS runs, each in at most one step), and
   * every re-execution traced to a kill; and how many bodies the kills cut short.
   */
  function judgeKills(entries: JournalEntry[], chaos: ChaosResult) {
    const victims = new Set(chaos.victims.map((victim) => victim.pid))
    const verdict = checkJournal(entries, chaos.killedAt, chaos.kills * PER_PROCESS)
    return {
      verdict,
      violations: [...verdict.violations, ...reexecutionsWithoutKill(entries, victims)],
      interrupted: interruptedBodies(entries, chaos.killedAt, victims),
    }
  }

  /** Asserted after the figures are printed, so a failure still shows them. */
  function expectKillsJudged(judged: ReturnType<typeof judgeKills>, seed: number) {
    expect(judged.violations, `seed ${seed}`).toEqual([])
    // The kills must land mid-body, or the limits were never tried across a takeover.
    expect(judged.interrupted, `seed ${seed}: no kill landed mid-body`).toBeGreaterThan(0)
  }

  it.each(CRASH_CASES)(
    '$processes $backend worker process(es): never more than 2 runs of one concurrency key inside at once, in the journal or the database',
    async ({ backend, processes }) => {
      scenario = await scenarioFor(backend)
      if (!scenario) return
      const location = scenario.location
      const perGroup = share(PER_GROUP, processes)
      const runs = GROUPS.length * perGroup
      const seed = crashSeed()
      let sampler: ReturnType<typeof sampleRunning> | undefined
      let sample: RunningSample | undefined
      let chaos: ChaosResult
      try {
        chaos = await runChaos(scenario, {
          processes,
          runs,
          kills: KILLS,
          seed,
          stepMs: 200,
          env: { DURABLY_CRASH_CONCURRENCY: String(PER_PROCESS) },
          victim: busyVictim(scenario.journalFile),
          async trigger(observer) {
            sampler = sampleRunning(location, GROUP_LIMIT)
            // Group by group, so the runs due first are all of one key: a claim that ignored
            // the limit would take PER_PROCESS of them at once.
            await observer.jobs.limited.batchTrigger(
              GROUPS.flatMap((group) => Array.from({ length: perGroup }, (_, n) => ({ group, n }))),
            )
          },
        })
      } finally {
        sample = await sampler?.stop()
      }

      await expectNothingLostOrDoubled(runs)
      const observer = openObserver(scenario)
      const keyOfRun = new Map<string, string>()
      try {
        for (const run of await observer.jobs.limited.getRuns({ limit: runs })) {
          keyOfRun.set(run.id, run.concurrencyKey!)
        }
      } finally {
        await observer.destroy()
      }
      const entries = readJournal(scenario.journalFile)
      const judged = judgeKills(entries, chaos)
      const { verdict, interrupted } = judged
      const journal = checkConcurrencyInJournal(entries, chaos.killedAt, keyOfRun, GROUP_LIMIT)
      console.log(
        `[crash] concurrency ${backend} × ${processes}: ${runs} runs, ${chaos.kills} kills ` +
          `(${interrupted} bodies cut short), ${verdict.reexecutions} re-executions; most inside ` +
          `per key: journal ${JSON.stringify(journal.peaks)}, database ${JSON.stringify(sample?.peaks)} ` +
          `over ${sample?.samples} samples; ${chaos.seconds.toFixed(1)} s (seed ${seed})`,
      )
      expectKillsJudged(judged, seed)
      expect(journal.violations, `seed ${seed}`).toEqual([])
      expect(sample?.violations, `seed ${seed}`).toEqual([])
      expect(sample?.samples).toBeGreaterThan(0)
      // Not vacuous: some key was full, with the claim wanting more of it.
      expect(Math.max(...Object.values(journal.peaks))).toBe(GROUP_LIMIT)
      expect(chaos.kills).toBeGreaterThan(0)
    },
    120_000,
  )

  it.each(CRASH_CASES)(
    '$processes $backend worker process(es): never more than 3 first starts of a throttled job in any 1000 ms',
    async ({ backend, processes }) => {
      scenario = await scenarioFor(backend)
      if (!scenario) return
      const runs = share(THROTTLED, processes)
      const seed = crashSeed()
      const chaos = await runChaos(scenario, {
        processes,
        runs,
        kills: KILLS,
        seed,
        // Long bodies: about one run in flight per process while the starts trickle in at
        // 3 a second, so the kills land mid-body.
        stepMs: 250,
        env: { DURABLY_CRASH_CONCURRENCY: String(PER_PROCESS) },
        victim: busyVictim(scenario.journalFile),
        async trigger(observer) {
          await observer.jobs.throttled.batchTrigger(
            Array.from({ length: runs }, (_, n) => ({ n })),
          )
        },
      })

      await expectNothingLostOrDoubled(runs)
      const observer = openObserver(scenario)
      let starts: number[]
      try {
        const started = await observer.jobs.throttled.getRuns({ limit: runs })
        starts = started.map((run) => Date.parse(run.startedAt!))
      } finally {
        await observer.destroy()
      }
      const entries = readJournal(scenario.journalFile)
      const judged = judgeKills(entries, chaos)
      const { verdict, interrupted } = judged
      const window = maxStartsPerWindow(starts, THROTTLE_PERIOD)
      console.log(
        `[crash] throttle ${backend} × ${processes}: ${runs} runs, ${chaos.kills} kills ` +
          `(${interrupted} bodies cut short), ${verdict.reexecutions} re-executions; most first ` +
          `starts in ${THROTTLE_PERIOD} ms: ${window.max}; ${chaos.seconds.toFixed(1)} s (seed ${seed})`,
      )
      expectKillsJudged(judged, seed)
      expect(
        window.max,
        `seed ${seed}: starts ${window.window.map((t) => new Date(t).toISOString()).join(', ')}`,
      ).toBeLessThanOrEqual(THROTTLE_LIMIT)
      // Not vacuous: every run was due at once, so the first window was full.
      expect(window.max).toBe(THROTTLE_LIMIT)
      expect(chaos.kills).toBeGreaterThan(0)
    },
    120_000,
  )
})
