/**
 * Attempts under SIGKILL, with 1, 2 and 4 worker processes on a libSQL file and 4 on
 * PostgreSQL: a body that kills its own process every time, in a step with
 * `retry: { attempts: 3 }` and in a job with that policy, both runs at once. Each attempt is
 * recorded before the body runs, so each death counts: after three, each run ends failed
 * instead of looping forever. Every worker that dies is restarted; each takeover waits for the
 * run's lease to go stale (1 s in these workers). Backoffs between attempts that fail without
 * a crash are checked under SIGKILL in waits.test.ts (`flaky` runs).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { waitUntil } from '../support/wait.js'
import {
  CRASH_CASES,
  killWorkers,
  openObserver,
  readJournal,
  type Scenario,
  scenarioFor,
  spawnWorker,
  type WorkerHandle,
} from './harness.js'
import { DOOMED_ATTEMPTS, DOOMED_STEP, FLAKY_BACKOFF } from './jobs.js'

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
   * Keep `processes` workers alive, restarting each that dies, until every run is final; the
   * number of deaths.
   */
  async function runThroughDeaths(
    runIds: string[],
    processes: number,
    observer: ReturnType<typeof openObserver>,
  ) {
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
    await Promise.all(Array.from({ length: processes }, keepAlive))
    let seen = ''
    try {
      await waitUntil(
        async () => {
          const runs = await Promise.all(runIds.map((id) => observer.getRun(id)))
          seen = runs.map((run) => `${run?.status} (attempt ${run?.attempt})`).join(', ')
          return runs.every((run) => run?.status === 'failed')
        },
        { timeout: 45_000, interval: 50, what: `runs ${runIds} to fail` },
      )
      return deaths
    } catch (error) {
      throw new Error(
        `${error}; runs: ${seen}; ${deaths} deaths, ${workers.length} workers up, ${starting.size} starting`,
      )
    } finally {
      finished = true
    }
  }

  it.each(CRASH_CASES)(
    '$processes $backend worker process(es): a step and a job body that kill their process every time each fail after their 3 attempts',
    async ({ backend, processes }) => {
      scenario = await scenarioFor(backend)
      if (!scenario) return
      const observer = openObserver(scenario)
      try {
        await observer.migrate()
        const doomedStep = await observer.jobs.doomedStep.trigger({})
        const doomedRun = await observer.jobs.doomedRun.trigger({})
        const deaths = await runThroughDeaths([doomedStep.id, doomedRun.id], processes, observer)
        // One process executes one run at a time: each death is one attempt of one run.
        expect(deaths).toBe(2 * DOOMED_ATTEMPTS)
        const begun = (runId: string) =>
          readJournal(scenario!.journalFile).filter(
            (entry) => entry.run === runId && entry.ev === 'begin',
          )

        const stepRun = await observer.getRun(doomedStep.id)
        expect(stepRun?.error).toMatch(/used all 3 attempts/)
        expect(begun(doomedStep.id)).toHaveLength(DOOMED_ATTEMPTS)
        const [step] = await observer.getSteps(doomedStep.id)
        expect(step).toMatchObject({ name: DOOMED_STEP, status: 'failed' })
        expect(step?.attempts?.map((a) => [a.attempt, a.endedAt])).toEqual([
          [1, null],
          [2, null],
          [3, null],
        ])

        const bodyRun = await observer.getRun(doomedRun.id)
        expect(bodyRun?.attempt).toBe(DOOMED_ATTEMPTS + 1)
        expect(bodyRun?.error).toMatch(/used all 3 attempts/)
        expect(begun(doomedRun.id)).toHaveLength(DOOMED_ATTEMPTS)
      } finally {
        await observer.stop()
      }
    },
    90_000,
  )

  it('a kill as a step attempt fails, before its backoff is handed back, leaves the attempt cut short: never a recorded failure retried early', async () => {
    scenario = await scenarioFor('libsql')
    if (!scenario) return
    const observer = openObserver(scenario)
    try {
      const run = await observer.jobs.flaky.trigger({ n: 0 })
      const victim = await spawnWorker(scenario, { DURABLY_CRASH_KILL_ON: 'step:retry' })
      workers.push(victim)
      await victim.exited
      const heir = await spawnWorker(scenario)
      workers.push(heir)
      await waitUntil(async () => (await observer.getRun(run.id))?.status === 'completed', {
        timeout: 30_000,
        what: 'the heir to finish the flaky run',
      })
      const [step] = await observer.getSteps(run.id)
      const attempts = step?.attempts ?? []
      // The victim died between its failure and handing the run back: that failure is not
      // recorded, so the heir's attempt counts from a crash, not from a backoff it skipped.
      expect(attempts[0]?.endedAt).toBeNull()
      for (const [index, attempt] of attempts.entries()) {
        const next = attempts[index + 1]
        if (!attempt.endedAt || !next) continue
        const backoff = FLAKY_BACKOFF.initial * FLAKY_BACKOFF.factor ** index
        expect(Date.parse(next.startedAt)).toBeGreaterThanOrEqual(
          Date.parse(attempt.endedAt) + backoff,
        )
      }
    } finally {
      await observer.destroy()
    }
  }, 60_000)
})
