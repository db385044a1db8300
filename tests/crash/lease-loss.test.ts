/**
 * A worker frozen past the stale threshold (SIGSTOP, as a stalled VM or a long GC pause
 * would) loses its lease; another worker finishes the run; when the frozen one wakes up,
 * every write it attempts is refused and the recorded results are the winner's.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { waitUntil } from '../support/wait.js'
import {
  countByStatus,
  createScenario,
  killWorkers,
  openObserver,
  readJournal,
  type Scenario,
  spawnWorker,
  type WorkerHandle,
} from './harness.js'

describe('lease loss', () => {
  let scenario: Scenario
  const workers: WorkerHandle[] = []
  afterEach(async () => {
    await killWorkers(workers)
    await scenario.cleanup()
  })

  it('a worker frozen past staleThreshold writes nothing once it wakes; the winner finishes', async () => {
    scenario = await createScenario('libsql')
    const observer = openObserver(scenario)
    try {
      const run = await observer.jobs.work.trigger({ n: 0 })
      const frozen = await spawnWorker(scenario, { DURABLY_CRASH_STEP_MS: '400' })
      workers.push(frozen)
      const begun = await waitUntil(
        () =>
          readJournal(scenario.journalFile).find(
            (entry) => entry.ev === 'begin' && entry.pid === frozen.pid,
          ),
        { what: 'the first worker to begin a step' },
      )
      frozen.child.kill('SIGSTOP')

      const winner = await spawnWorker(scenario, { DURABLY_CRASH_STEP_MS: '5' })
      workers.push(winner)
      await waitUntil(async () => (await observer.getRun(run.id))?.status === 'completed', {
        what: 'the second worker to finish the run',
      })

      // Only the frozen worker is left; it must finish its doomed execution before it can
      // take the probe run (concurrency 1), so the probe completing proves it tried to write.
      winner.child.kill('SIGKILL')
      await winner.exited
      frozen.child.kill('SIGCONT')
      const probe = await observer.jobs.work.trigger({ n: 100 })
      await waitUntil(async () => (await observer.getRun(probe.id))?.status === 'completed', {
        timeout: 20_000,
        what: 'the woken worker to process a probe run',
      })

      const journal = readJournal(scenario.journalFile)
      expect(
        journal.some(
          (entry) =>
            entry.ev === 'end' &&
            entry.pid === frozen.pid &&
            entry.run === run.id &&
            entry.step === begun.step,
        ),
        'the frozen worker finished its step body after waking',
      ).toBe(true)
      const frozenCommits = journal.filter(
        (entry) =>
          entry.ev === 'step-committed' &&
          entry.pid === frozen.pid &&
          entry.run === run.id &&
          entry.t > begun.t,
      )
      expect(frozenCommits).toEqual([])
      const steps = await observer.getSteps(run.id)
      expect(steps).toHaveLength(4)
      const frozenStep = steps.find((step) => step.name === begun.step)
      expect(frozenStep?.output).toEqual({ value: expect.any(Number), pid: winner.pid })
      expect(await countByStatus(observer)).toEqual({ completed: 2 })
    } finally {
      await observer.destroy()
    }
  }, 60_000)
})
