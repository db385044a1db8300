/**
 * Clocks that disagree. On PostgreSQL machines share the database, and their clocks can be
 * minutes apart: leases, heartbeats and wake-ups are decided by the database's clock, so a
 * worker whose clock is wrong can neither take a live run nor keep a dead one. On SQLite every
 * process shares one machine's clock, which can jump when it is set: a jump must never let a
 * second worker run a step whose owner is alive.
 */
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createDurably } from '../../src/index.js'
import { POSTGRES_URL } from '../support/postgres.js'
import { waitUntil } from '../support/wait.js'
import { openDialect } from './database.js'
import {
  killWorkers,
  openObserver,
  readJournal,
  type Scenario,
  scenarioFor,
  spawnWorker,
  type WorkerHandle,
} from './harness.js'
import { crashJobs } from './jobs.js'
import { type JournalEntry, openJournal } from './journal.js'

const FIVE_MINUTES = 5 * 60_000
/** Long against the workers' stale threshold (1 s): only a wrong judgement takes the run. */
const LONG_STEP_MS = '2500'

/** Runs whose step bodies were ever inside in two processes at once. */
function overlaps(journal: JournalEntry[]): string[] {
  const inside = new Map<string, Set<number>>()
  const found = new Set<string>()
  for (const entry of journal) {
    if (entry.ev !== 'begin' && entry.ev !== 'end') continue
    const key = `${entry.run}/${entry.step}`
    const pids = inside.get(key) ?? new Set<number>()
    inside.set(key, pids)
    if (entry.ev === 'begin') {
      if (pids.size > 0 && !pids.has(entry.pid)) found.add(key)
      pids.add(entry.pid)
    } else pids.delete(entry.pid)
  }
  return [...found]
}

describe('clocks that disagree', () => {
  let scenario: Scenario | undefined
  const workers: WorkerHandle[] = []
  afterEach(async () => {
    await killWorkers(workers)
    await scenario?.cleanup()
    scenario = undefined
  })

  it('PostgreSQL: a worker five minutes ahead does not take a live run held by one five minutes behind', async () => {
    scenario = await scenarioFor('postgres')
    if (!scenario) return
    const observer = openObserver(scenario)
    try {
      const run = await observer.jobs.work.trigger({ n: 0 })
      const behind = await spawnWorker(scenario, {
        DURABLY_CRASH_STEP_MS: LONG_STEP_MS,
        DURABLY_CRASH_CLOCK_SKEW_MS: String(-FIVE_MINUTES),
      })
      workers.push(behind)
      await waitUntil(
        () => readJournal(scenario!.journalFile).find((entry) => entry.ev === 'begin'),
        { what: 'the worker behind to begin a step' },
      )
      const ahead = await spawnWorker(scenario, {
        DURABLY_CRASH_STEP_MS: LONG_STEP_MS,
        DURABLY_CRASH_CLOCK_SKEW_MS: String(FIVE_MINUTES),
      })
      workers.push(ahead)
      await waitUntil(async () => (await observer.getRun(run.id))?.status === 'completed', {
        timeout: 30_000,
        what: 'the run to complete',
      })
      const journal = readJournal(scenario.journalFile)
      expect(journal.filter((entry) => entry.pid === ahead.pid && entry.ev === 'begin')).toEqual([])
      const steps = await observer.getSteps(run.id)
      expect(steps.map((step) => (step.output as { pid: number }).pid)).toEqual(
        steps.map(() => behind.pid),
      )
    } finally {
      await observer.destroy()
    }
  }, 60_000)

  it('PostgreSQL: a run whose worker ran five minutes ahead and died is taken over within seconds', async () => {
    scenario = await scenarioFor('postgres')
    if (!scenario) return
    const observer = openObserver(scenario)
    try {
      const run = await observer.jobs.work.trigger({ n: 0 })
      const ahead = await spawnWorker(scenario, {
        DURABLY_CRASH_STEP_MS: LONG_STEP_MS,
        DURABLY_CRASH_CLOCK_SKEW_MS: String(FIVE_MINUTES),
      })
      workers.push(ahead)
      await waitUntil(
        () => readJournal(scenario!.journalFile).find((entry) => entry.ev === 'begin'),
        { what: 'the worker ahead to begin a step' },
      )
      ahead.child.kill('SIGKILL')
      await ahead.exited
      const rescuer = await spawnWorker(scenario, { DURABLY_CRASH_STEP_MS: '5' })
      workers.push(rescuer)
      // Its heartbeats, had they carried its own clock, would look fresh for five minutes.
      await waitUntil(async () => (await observer.getRun(run.id))?.status === 'completed', {
        timeout: 20_000,
        what: 'the rescuer to take the dead worker’s run over and finish it',
      })
    } finally {
      await observer.destroy()
    }
  }, 60_000)

  it('PostgreSQL: a delay asked for by a process five minutes ahead starts on the database’s time', async () => {
    scenario = await scenarioFor('postgres')
    if (!scenario) return
    const trueNow = Date.now
    Date.now = () => trueNow() + FIVE_MINUTES
    const ahead = createDurably({ dialect: openDialect(scenario.location) }).register(
      crashJobs(openJournal(scenario.journalFile), () => 5),
    )
    try {
      await ahead.migrate()
      const run = await ahead.jobs.work.trigger({ n: 0 }, { delay: 2000 })
      const client = await import('pg').then((pg) => new pg.default.Client(POSTGRES_URL))
      await client.connect()
      const { rows } = await client.query<{ ms: number }>(
        'SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms',
      )
      await client.end()
      const databaseNow = rows[0]!.ms
      const startsIn = Date.parse((await ahead.getRun(run.id))!.availableAt!) - databaseNow
      // Two seconds from the database's now, give or take the round trips; not five minutes on.
      expect(startsIn).toBeGreaterThan(0)
      expect(startsIn).toBeLessThanOrEqual(2000)
    } finally {
      Date.now = trueNow
      await ahead.destroy()
    }
  })

  it('SQLite: when the machine’s clock jumps ahead, no worker takes a run whose owner is alive', async () => {
    scenario = await scenarioFor('libsql')
    if (!scenario) return
    const observer = openObserver(scenario)
    try {
      const run = await observer.jobs.work.trigger({ n: 0 })
      // Both processes see the clock jump ten minutes at one instant, once both are up and
      // while the owner is inside the run (four steps of 2.5 to 7.5 s).
      const jumpFile = join(dirname(scenario.journalFile), 'clock-jump')
      const jump = { DURABLY_CRASH_CLOCK_JUMP_FILE: jumpFile }
      // Renewing late in its threshold, as the defaults do (every 5 s of 30 s), leaves the
      // others most of a heartbeat interval to misjudge its run after the jump.
      const owner = await spawnWorker(scenario, {
        DURABLY_CRASH_STEP_MS: '5000',
        DURABLY_CRASH_HEARTBEAT_MS: '600',
        ...jump,
      })
      workers.push(owner)
      await waitUntil(
        () => readJournal(scenario!.journalFile).find((entry) => entry.ev === 'begin'),
        { what: 'the owner to begin a step' },
      )
      const idle = await spawnWorker(scenario, { DURABLY_CRASH_STEP_MS: '5', ...jump })
      workers.push(idle)
      // Half a second ahead: both processes read the file (every 20 ms) before the instant.
      writeFileSync(jumpFile, `${Date.now() + 500}:${2 * FIVE_MINUTES}`)
      await waitUntil(async () => (await observer.getRun(run.id))?.status === 'completed', {
        timeout: 60_000,
        what: 'the run to complete',
      })
      const journal = readJournal(scenario.journalFile)
      expect(journal.filter((entry) => entry.pid === idle.pid && entry.ev === 'begin')).toEqual([])
      expect(overlaps(journal)).toEqual([])
      const jumped = (entry: JournalEntry) => entry.now - entry.t > FIVE_MINUTES
      expect(
        journal.some((entry) => entry.pid === owner.pid && entry.ev === 'end' && jumped(entry)),
        'the clock jumped while the owner was running the run',
      ).toBe(true)
    } finally {
      await observer.destroy()
    }
  }, 120_000)
})
