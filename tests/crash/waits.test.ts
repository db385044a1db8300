/**
 * Waiting for the world under SIGKILL, with 1, 2 and 4 worker processes on a libSQL file and
 * 4 on PostgreSQL. `waiter` runs wait for a `crash/go` event matching their `n`: half the
 * events are sent before the runs reach their wait, the rest one by one during the chaos,
 * each just before a kill may land. `parent` runs invoke a `kid` child run, so parent and
 * child often run in different processes and die separately. Beyond the journal checks of
 * crash.test.ts: every waiter took exactly its own event, once; every parent created exactly
 * one child and resumed with its output; no step was recorded twice.
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
  scenarioFor,
  seededRandom,
} from './harness.js'
import { GO_EVENT, KID_STEPS, PARENT_STEPS, WAITER_STEPS } from './jobs.js'

const WAITERS = Number(process.env.DURABLY_CRASH_WAITERS ?? 24)
const PARENTS = Number(process.env.DURABLY_CRASH_PARENTS ?? 16)
const KILLS = Number(process.env.DURABLY_CRASH_WAIT_KILLS ?? 6)
// Every run that ends completed: waiters, parents and the parents' children.
const RUNS = WAITERS + 2 * PARENTS

describe('events, signals and child runs under SIGKILL', () => {
  let scenario: Scenario | undefined
  afterEach(async () => {
    await scenario?.cleanup()
    scenario = undefined
  })

  it.each(CRASH_CASES)(
    '$processes $backend worker process(es): each waiter takes its one event, each parent one child, nothing lost or doubled',
    async ({ backend, processes }) => {
      scenario = await scenarioFor(backend)
      if (!scenario) return
      const seed = crashSeed()
      const workload = seededRandom(seed ^ 0xe7e7)
      const late: number[] = []
      let sending: Promise<void> | undefined
      const chaos = await runChaos(scenario, {
        processes,
        runs: RUNS,
        kills: KILLS,
        seed,
        async trigger(observer) {
          await observer.jobs.waiter.batchTrigger(
            Array.from({ length: WAITERS }, (_, n) => ({ n })),
          )
          await observer.jobs.parent.batchTrigger(
            Array.from({ length: PARENTS }, (_, n) => ({ n })),
          )
          for (let n = 0; n < WAITERS; n++) {
            if (n % 2 === 0) await observer.sendEvent(GO_EVENT, { n }, { id: `go-${n}` })
            else late.push(n)
          }
          // The rest arrive during the chaos, spread over a few seconds; each is sent twice
          // with one id, as a webhook retried would be.
          sending = (async () => {
            for (const n of late) {
              await new Promise((resolve) => setTimeout(resolve, workload() * 300))
              await observer.sendEvent(GO_EVENT, { n }, { id: `go-${n}` })
              await observer.sendEvent(GO_EVENT, { n }, { id: `go-${n}` })
            }
          })()
        },
      })
      await sending

      const entries = readJournal(scenario.journalFile)
      const observer = openObserver(scenario)
      try {
        expect(await countByStatus(observer)).toEqual({ completed: RUNS })
        const steps = await observer.db
          .selectFrom('durably_steps')
          .select(['run_id', 'name'])
          .execute()
        expect(steps.length).toBe(
          WAITERS * WAITER_STEPS.length + PARENTS * (PARENT_STEPS.length + KID_STEPS.length),
        )
        expect(new Set(steps.map((step) => `${step.run_id}/${step.name}`)).size).toBe(steps.length)
        const events = await observer.db.selectFrom('durably_events').select('id').execute()
        expect(events).toHaveLength(WAITERS)
        for (const run of await observer.jobs.waiter.getRuns({ limit: WAITERS })) {
          const n = (run.payload as { n: number }).n
          expect(run.output, `waiter ${n}`).toEqual({ data: { n } })
          const [, go] = await observer.getSteps(run.id)
          expect(go?.output).toEqual({ eventId: `go-${n}`, data: { n } })
        }
        for (const run of await observer.jobs.parent.getRuns({ limit: PARENTS })) {
          const n = (run.payload as { n: number }).n
          expect(run.output, `parent ${n}`).toEqual({ kid: n })
          const children = await observer.getRuns({ parentRunId: run.id })
          expect(children.map((child) => child.status)).toEqual(['completed'])
        }
      } finally {
        await observer.destroy()
      }
      const verdict = checkJournal(entries, chaos.killedAt, chaos.kills)
      console.log(
        `[crash] waits ${backend} × ${processes}: ${WAITERS} waiters, ${PARENTS} parents, ` +
          `${chaos.kills} kills, ${verdict.reexecutions} re-executions, ` +
          `${chaos.seconds.toFixed(1)} s (seed ${seed})`,
      )
      expect(verdict.violations, `seed ${seed}`).toEqual([])
      expect(chaos.kills).toBeGreaterThan(0)
    },
    120_000,
  )
})
