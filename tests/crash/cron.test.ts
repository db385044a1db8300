/**
 * A one-second cron (`* * * * * *`) registered by every worker process, with 1, 2 and 4
 * processes on a libSQL file and 4 on PostgreSQL, each killed with SIGKILL and restarted at
 * seeded moments for several seconds (many of them just after a tick, while its run is being
 * claimed and the next tick's run created). Every tick has one run at most (one idempotency
 * key per tick, which the database enforces), each tick's run executed to completion once
 * (the journal: one body that finished in a surviving process, never begun again once its
 * step returned, nothing overlapping, re-executions no more than kills), and the chain of
 * ticks goes on after the last kill.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { waitUntil } from '../support/wait.js'
import {
  CRASH_CASES,
  checkJournal,
  crashSeed,
  killWorkers,
  type Observer,
  openObserver,
  readJournal,
  type Scenario,
  scenarioFor,
  seededRandom,
  spawnWorker,
  type WorkerHandle,
} from './harness.js'
import { CRON_JOB, CRON_STEP } from './jobs.js'
import { wallClock } from './journal.js'

/** How long the kills go on (ms). */
const CHAOS_MS = Number(process.env.DURABLY_CRASH_CRON_MS ?? 6000)
const PREFIX = `schedule:${CRON_JOB}:`
const ENV = { DURABLY_CRASH_CRON: '1', DURABLY_CRASH_STEP_MS: '150' }

const pauseFor = (ms: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)))

async function tickRuns(observer: Observer) {
  const rows = await observer.db
    .selectFrom('durably_runs')
    .select(['id', 'idempotency_key', 'status'])
    .where('job_name', '=', CRON_JOB)
    .execute()
  return rows.map((row) => ({
    id: row.id,
    key: row.idempotency_key,
    status: row.status,
    tick: row.idempotency_key?.startsWith(PREFIX)
      ? Date.parse(row.idempotency_key.slice(PREFIX.length))
      : Number.NaN,
  }))
}

describe('a one-second cron under SIGKILL', () => {
  let scenario: Scenario | undefined
  const workers: WorkerHandle[] = []
  afterEach(async () => {
    await killWorkers(workers)
    await scenario?.cleanup()
    scenario = undefined
  })

  it.each(CRASH_CASES)(
    '$processes $backend worker process(es): one run per tick, each executed once, the chain goes on after kills',
    async ({ backend, processes }) => {
      scenario = await scenarioFor(backend)
      if (!scenario) return
      const seed = crashSeed()
      const random = seededRandom(seed)
      const observer = openObserver(scenario)
      const killedAt = new Map<number, number>()
      /** pid → when the chaos killed it (wall clock). */
      const victims = new Map<number, number>()
      let kills = 0
      let killsAfterTick = 0
      let chaosSeconds = 0
      let resumedAt = 0
      let cutoff = 0
      // Each slot's worker, or its restart still starting: restarts go on in the background,
      // so another worker can be killed meanwhile; `ready` holds the ones up.
      const slots: Promise<WorkerHandle>[] = []
      try {
        await observer.migrate()
        for (let index = 0; index < processes; index += 1) {
          slots.push(spawnWorker(scenario, ENV))
        }
        const ready: (WorkerHandle | undefined)[] = await Promise.all(slots)
        workers.push(...(ready as WorkerHandle[]))
        const started = performance.now()
        const chaosEnd = Date.now() + CHAOS_MS
        for (;;) {
          // The chaos schedule, not a wait for state: a seeded moment, often in the first
          // 40 ms after a tick, when the tick's run is claimed and the next one created.
          const afterTick = random() < 0.4
          const jitter = random()
          const at = afterTick
            ? (Math.floor(Date.now() / 1000) + 1) * 1000 + jitter * 40
            : Date.now() + 100 + jitter * 600
          const pick = random()
          if (at > chaosEnd) break
          await pauseFor(at - Date.now())
          // The victim: one of the workers up at that moment; with several processes, never
          // the last one up (so the ticks go on in live workers while the others restart).
          const up = ready.flatMap((worker, index) => (worker ? [index] : []))
          if (up.length === 0 || (processes > 1 && up.length === 1)) {
            await Promise.race(slots.filter((_, index) => !ready[index]))
            continue
          }
          const index = up[Math.floor(pick * up.length)]!
          const victim = ready[index]!
          ready[index] = undefined
          victim.child.kill('SIGKILL')
          killedAt.set(victim.pid, wallClock())
          victims.set(victim.pid, killedAt.get(victim.pid)!)
          await victim.exited
          kills += 1
          if (afterTick) killsAfterTick += 1
          const restart = spawnWorker(scenario, ENV)
          slots[index] = restart
          void restart
            .then((worker) => {
              workers.push(worker)
              if (slots[index] === restart) ready[index] = worker
            })
            .catch(() => {})
        }
        await Promise.all(slots)
        chaosSeconds = (performance.now() - started) / 1000
        resumedAt = Date.now()

        // The chain goes on: a tick after the last kill's restart runs to completion...
        const later = await waitUntil(
          async () =>
            (await tickRuns(observer)).find(
              (run) => run.tick > resumedAt && run.status === 'completed',
            ),
          { timeout: 20_000, interval: 50, what: 'a tick after the last kill to complete' },
        )
        cutoff = later.tick
        // ...and every tick up to it completes too (a killed one once its lease went stale).
        await waitUntil(
          async () =>
            (await tickRuns(observer)).every(
              (run) => !(run.tick <= cutoff) || run.status === 'completed',
            ),
          { timeout: 20_000, interval: 50, what: `every tick up to ${new Date(cutoff)}` },
        )
      } finally {
        const alive = (await Promise.allSettled(slots)).flatMap((slot) =>
          slot.status === 'fulfilled' ? [slot.value] : [],
        )
        for (const worker of alive) worker.child.kill('SIGKILL')
        await Promise.all(alive.map((worker) => worker.exited))
        const end = wallClock()
        for (const worker of alive) killedAt.set(worker.pid, end)
      }

      const runs = await tickRuns(observer)
      await observer.destroy()
      // One run per tick: every run is a tick's, keys never repeat, ticks are whole seconds.
      const keys = runs.map((run) => run.key)
      expect(keys.filter((key) => !key?.startsWith(PREFIX))).toEqual([])
      expect(new Set(keys).size).toBe(keys.length)
      expect(runs.filter((run) => !Number.isInteger(run.tick / 1000))).toEqual([])
      const done = runs.filter((run) => run.tick <= cutoff)
      expect(done.every((run) => run.status === 'completed')).toBe(true)
      expect(done.some((run) => run.tick > resumedAt)).toBe(true)

      // Executed to completion once, per the journal.
      const entries = readJournal(scenario.journalFile)
      const byId = new Map(runs.map((run) => [run.id, run]))
      const problems: string[] = []
      for (const entry of entries) {
        if (entry.step === CRON_STEP && !byId.has(entry.run)) {
          problems.push(`journal names run ${entry.run}, which is no tick's run`)
        }
      }
      for (const run of done) {
        const mine = entries.filter((entry) => entry.run === run.id && entry.step === CRON_STEP)
        const ends = mine.filter((entry) => entry.ev === 'end')
        const survivorEnds = ends.filter((entry) => !victims.has(entry.pid))
        const tick = run.key?.slice(PREFIX.length)
        if (ends.length === 0) problems.push(`tick ${tick}: completed, but its body never finished`)
        if (!mine.some((entry) => entry.ev === 'returned')) {
          problems.push(`tick ${tick}: completed, but its step never returned`)
        }
        if (survivorEnds.length > 1) {
          problems.push(
            `tick ${tick}: body finished ${survivorEnds.length} times in live processes`,
          )
        }
      }
      const verdict = checkJournal(entries, killedAt, kills)
      const seconds = (cutoff - Math.min(...done.map((run) => run.tick))) / 1000 + 1
      // Ticks with no run (allowed: one catch-up run covers them), and the kill before each gap.
      const ticks = done.map((run) => run.tick).sort((a, b) => a - b)
      const gaps = ticks.slice(1).flatMap((tick, index) => {
        const previous = ticks[index]!
        if (tick - previous === 1000) return []
        const kill = [...victims.values()].find((t) => t >= previous && t < previous + 1000)
        const killed = kill === undefined ? 'no kill' : `kill at +${Math.round(kill - previous)} ms`
        return [
          `${(tick - previous) / 1000 - 1} after ${new Date(previous).toISOString()} (${killed})`,
        ]
      })
      console.log(
        `[crash] cron ${backend} × ${processes}: ${done.length} tick runs over ${seconds} ticks ` +
          `(${seconds - done.length} without a run${gaps.length > 0 ? `: ${gaps.join(', ')}` : ''}), ` +
          `${kills} kills (${killsAfterTick} within 40 ms of a tick), ` +
          `${verdict.reexecutions} re-executions, ${chaosSeconds.toFixed(1)} s of kills (seed ${seed})`,
      )
      expect(problems, `seed ${seed}`).toEqual([])
      expect(verdict.violations, `seed ${seed}`).toEqual([])
      expect(kills).toBeGreaterThan(0)
    },
    90_000,
  )
})
