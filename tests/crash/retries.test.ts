/**
 * Attempts under SIGKILL: a body that kills its own process every time, in a step with
 * `retry: { attempts: 3 }` or in a job with that policy. Each attempt is recorded before the
 * body runs, so each death counts: after three, the run ends failed instead of looping
 * forever. Two worker processes run, each restarted when it dies; each takeover waits for
 * the run's lease to go stale (1 s in these workers).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { waitUntil } from '../support/wait.js'
import {
  killWorkers,
  openObserver,
  readJournal,
  type Scenario,
  scenarioFor,
  spawnWorker,
  type WorkerHandle,
} from './harness.js'
import { DOOMED_ATTEMPTS, DOOMED_STEP } from './jobs.js'

const CASES = [{ backend: 'libsql' }, { backend: 'postgres' }] as const

describe('attempts under SIGKILL', () => {
  let scenario: Scenario | undefined
  const workers: WorkerHandle[] = []
  const starting = new Set<Promise<void>>()
  afterEach(async () => {
    // A replacement still starting would meet the database removed under it.
    await Promise.allSettled(starting)
    await killWorkers(workers)
    await scenario?.cleanup()
    scenario = undefined
  })

  /**
   * Keep two workers alive (one takes over while the other's replacement starts), restarting
   * each that dies, until the run is final; the number of deaths.
   */
  async function runThroughDeaths(runId: string, observer: ReturnType<typeof openObserver>) {
    let deaths = 0
    let finished = false
    const keepAlive = async (): Promise<void> => {
      if (finished) return
      const worker = await spawnWorker(scenario!)
      workers.push(worker)
      void worker.exited.then((code) => {
        workers.splice(workers.indexOf(worker), 1)
        if (code !== null || finished) return
        deaths += 1
        const replacement = keepAlive()
        starting.add(replacement)
        void replacement.finally(() => starting.delete(replacement))
      })
    }
    await Promise.all([keepAlive(), keepAlive()])
    try {
      const run = await waitUntil(
        async () => {
          const found = await observer.getRun(runId)
          return found?.status === 'failed' ? found : null
        },
        { timeout: 30_000, interval: 50, what: `run ${runId} to fail` },
      )
      return { run, deaths }
    } finally {
      finished = true
    }
  }

  it.each(CASES)(
    '$backend: a step that kills its process every time fails after its 3 attempts',
    async ({ backend }) => {
      scenario = await scenarioFor(backend)
      if (!scenario) return
      const observer = openObserver(scenario)
      try {
        await observer.migrate()
        const triggered = await observer.jobs.doomedStep.trigger({})
        const { run, deaths } = await runThroughDeaths(triggered.id, observer)
        expect(deaths).toBe(DOOMED_ATTEMPTS)
        expect(run.error).toMatch(/used all 3 attempts/)
        const begun = readJournal(scenario.journalFile).filter(
          (entry) => entry.run === run.id && entry.ev === 'begin',
        )
        expect(begun).toHaveLength(DOOMED_ATTEMPTS)
        const [step] = await observer.getSteps(run.id)
        expect(step).toMatchObject({ name: DOOMED_STEP, status: 'failed' })
        expect(step?.attempts?.map((a) => [a.attempt, a.endedAt])).toEqual([
          [1, null],
          [2, null],
          [3, null],
        ])
      } finally {
        await observer.stop()
      }
    },
    60_000,
  )

  it.each(CASES)(
    '$backend: a job body that kills its process every time fails after its 3 attempts',
    async ({ backend }) => {
      scenario = await scenarioFor(backend)
      if (!scenario) return
      const observer = openObserver(scenario)
      try {
        await observer.migrate()
        const triggered = await observer.jobs.doomedRun.trigger({})
        const { run, deaths } = await runThroughDeaths(triggered.id, observer)
        expect(deaths).toBe(DOOMED_ATTEMPTS)
        expect(run.attempt).toBe(DOOMED_ATTEMPTS + 1)
        expect(run.error).toMatch(/used all 3 attempts/)
        const begun = readJournal(scenario.journalFile).filter(
          (entry) => entry.run === run.id && entry.ev === 'begin',
        )
        expect(begun).toHaveLength(DOOMED_ATTEMPTS)
      } finally {
        await observer.stop()
      }
    },
    60_000,
  )
})
