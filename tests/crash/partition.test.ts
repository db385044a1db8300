/**
 * A network partition between one worker process and PostgreSQL, through a TCP proxy the test
 * controls (tests/support/tcp-proxy.ts). The cut-off worker connects through the proxy; the
 * rescuer and the test connect directly.
 *
 * 1. Mid-step, the proxy swallows every byte both ways (no RST, no FIN) for longer than
 *    `staleThreshold`. The rescuer takes the run over and finishes it. When the partition
 *    heals, the cut-off worker's next lease renewal is refused by the database, its step body
 *    is aborted, it writes nothing for that run, and it completes a new run within seconds:
 *    its pool's timeouts and `listen`'s discarding of a timed-out connection keep it from
 *    waiting on a dead socket.
 * 2. The proxy refuses everything for 30 s while runs are in flight from the proxied worker:
 *    nothing is lost, every run completes afterwards.
 * 3. In one process: a pooled connection whose statement `query_timeout` gave up on is not
 *    handed out again (`pg` would queue every later statement behind the lost answer).
 *
 * The figures (takeover, claiming again after the heal) are printed with `[partition]`.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { PostgresDialect, sql } from 'kysely'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { createDurably, DatabaseError } from '../../src/index.js'
import { POSTGRES_URL } from '../support/postgres.js'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js'
import { waitUntil } from '../support/wait.js'
import { openDialect } from './database.js'
import {
  checkJournal,
  countByStatus,
  readJournal,
  type Scenario,
  scenarioFor,
  spawnReady,
  type WorkerHandle,
} from './harness.js'
import { openJournal, wallClock } from './journal.js'
import { partitionJobs } from './partition-jobs.js'

const WORKER_SCRIPT = join(import.meta.dirname, 'partition-worker.ts')

/**
 * The README's pool settings for networks that fail, scaled to the workers' 2 s
 * `staleThreshold`: a connect or a statement that gets no answer fails within a second, and
 * the server gives up on a slow statement first, so a reachable server answers with an error
 * rather than leaving the client to time out.
 */
const POOL_FOR_FAILING_NETWORKS = {
  connectionTimeoutMillis: 1000,
  query_timeout: 1000,
  statement_timeout: 800,
  keepAlive: true,
  keepAliveInitialDelayMillis: 1000,
}

interface Noted {
  ev: 'run-start' | 'worker-error' | 'step-aborted'
  run?: string
  step?: string
  reason?: string
  context?: string
  message?: string
  pid: number
  t: number
}

const eventsFile = (scenario: Scenario) => join(dirname(scenario.journalFile), 'events.ndjson')

function readNoted(scenario: Scenario): Noted[] {
  const file = eventsFile(scenario)
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Noted)
}

function spawnPartitionWorker(
  scenario: Scenario,
  options: {
    through?: TcpProxy
    concurrency: number
    pollingInterval?: number
    applicationName?: string
  },
): Promise<WorkerHandle> {
  const location = scenario.location
  if (location.backend !== 'postgres') throw new Error('partition scenarios are PostgreSQL only')
  const url = options.through ? options.through.rewrite(location.url) : location.url
  const concurrency = options.concurrency
  return spawnReady(WORKER_SCRIPT, {
    DURABLY_CRASH_DB: JSON.stringify({ ...location, url }),
    DURABLY_CRASH_JOURNAL: scenario.journalFile,
    DURABLY_PARTITION_EVENTS: eventsFile(scenario),
    DURABLY_PARTITION_POOL: JSON.stringify({
      ...POOL_FOR_FAILING_NETWORKS,
      max: concurrency + 2,
      ...(options.applicationName ? { application_name: options.applicationName } : {}),
    }),
    DURABLY_PARTITION_LISTEN: '1',
    DURABLY_CRASH_CONCURRENCY: String(concurrency),
    ...(options.pollingInterval
      ? { DURABLY_PARTITION_POLLING: String(options.pollingInterval) }
      : {}),
  })
}

const seconds = (ms: number) => Math.round(ms / 100) / 10

const openObserver = (scenario: Scenario) =>
  createDurably({ dialect: openDialect(scenario.location) }).register(
    partitionJobs(openJournal(scenario.journalFile)),
  )

describe('network partition between a worker and PostgreSQL', () => {
  let scenario: Scenario | undefined
  let proxy: TcpProxy | undefined
  const workers: WorkerHandle[] = []
  afterEach(async () => {
    for (const worker of workers.splice(0)) {
      worker.child.kill('SIGKILL')
      await worker.exited
    }
    await proxy?.close()
    proxy = undefined
    await scenario?.cleanup()
    scenario = undefined
  })

  const startProxy = () => {
    const target = new URL(POSTGRES_URL)
    return startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) })
  }

  /** A PostgreSQL scenario, a proxy to it and an observer, or undefined where PostgreSQL is skipped. */
  const partitioned = async () => {
    scenario = await scenarioFor('postgres')
    if (!scenario) return undefined
    proxy = await startProxy()
    return { current: scenario, proxy, observer: openObserver(scenario) }
  }

  it('a worker cut off mid-step past staleThreshold is fenced, and claims again soon after the heal', async () => {
    const setup = await partitioned()
    if (!setup) return
    const { current, proxy, observer } = setup
    try {
      await observer.migrate()
      const cutOff = await spawnPartitionWorker(current, { through: proxy, concurrency: 1 })
      workers.push(cutOff)
      // In the cut-off worker, the first step outlasts the scenario unless its lease is lost.
      const run = await observer.jobs.hold.trigger({
        n: 0,
        stepMs: 20,
        holdPid: cutOff.pid,
        holdMs: 120_000,
      })
      const begun = await waitUntil(
        () =>
          readJournal(current.journalFile).find(
            (entry) => entry.ev === 'begin' && entry.pid === cutOff.pid && entry.run === run.id,
          ),
        { what: 'the cut-off worker to begin the first step' },
      )

      proxy.blackhole()
      const cutAt = wallClock()
      const rescuer = await spawnPartitionWorker(current, { concurrency: 1 })
      workers.push(rescuer)
      await waitUntil(async () => (await observer.getRun(run.id))?.status === 'completed', {
        timeout: 20_000,
        what: 'the rescuer to take the run over and finish it',
      })
      const takeover = readNoted(current).find(
        (entry) => entry.ev === 'run-start' && entry.pid === rescuer.pid && entry.run === run.id,
      )
      expect(takeover, 'the rescuer started the run').toBeDefined()

      // The rescuer journals run:complete after the commit the observer saw: killed before
      // that line, it would never write it.
      await waitUntil(
        () =>
          readJournal(current.journalFile).some(
            (entry) => entry.ev === 'run-complete' && entry.run === run.id,
          ),
        { what: 'the rescuer to journal the completion' },
      )
      // Only the cut-off worker is left. With concurrency 1 it can take the probe only once
      // its doomed execution has ended: the probe completing proves that it did.
      rescuer.child.kill('SIGKILL')
      await rescuer.exited
      expect(
        readNoted(current).some((entry) => entry.ev === 'step-aborted' && entry.pid === cutOff.pid),
        'the cut-off worker noticed nothing while the partition lasted',
      ).toBe(false)
      await proxy.heal()
      const healedAt = wallClock()
      const probe = await observer.jobs.hold.trigger({ n: 100, stepMs: 20 })
      await waitUntil(async () => (await observer.getRun(probe.id))?.status === 'completed', {
        timeout: 10_000,
        what: 'the cut-off worker to complete a new run after the heal',
      })

      const noted = readNoted(current)
      const aborted = noted.find(
        (entry) => entry.ev === 'step-aborted' && entry.pid === cutOff.pid && entry.run === run.id,
      )
      // Its lease renewal, a fenced write, was refused once it reached the database again.
      expect(aborted).toMatchObject({ step: begun.step, reason: 'LeaseLostError' })
      expect(aborted!.t).toBeGreaterThan(healedAt)
      const claimedAgain = noted.find(
        (entry) => entry.ev === 'run-start' && entry.pid === cutOff.pid && entry.run === probe.id,
      )
      expect(claimedAgain, 'the cut-off worker started the probe').toBeDefined()
      console.log(
        `[partition] takeover ${seconds(takeover!.t - cutAt)} s after the cut; the cut-off ` +
          `worker's step aborted ${seconds(aborted!.t - healedAt)} s and a new run started ` +
          `${seconds(claimedAgain!.t - healedAt)} s after the heal; ` +
          `${noted.filter((entry) => entry.ev === 'worker-error' && entry.pid === cutOff.pid).length} worker:error`,
      )

      const journal = readJournal(current.journalFile)
      expect(
        journal.filter(
          (entry) =>
            entry.pid === cutOff.pid &&
            entry.run === run.id &&
            (entry.ev === 'end' || entry.ev === 'step-committed' || entry.ev === 'run-complete'),
        ),
        'the cut-off worker wrote nothing for the run it lost',
      ).toEqual([])
      const steps = await observer.getSteps(run.id)
      expect(steps.map((step) => [step.name, step.output])).toEqual(
        ['fetch', 'transform', 'store', 'notify'].map((name, index) => [
          name,
          { value: index + 1, pid: rescuer.pid },
        ]),
      )
      expect((await observer.getSteps(probe.id)).map((step) => step.output)).toEqual(
        [101, 102, 103, 104].map((value) => ({ value, pid: cutOff.pid })),
      )
      // The worker journals run:complete after the commit the observer saw: wait for the line.
      await waitUntil(
        () =>
          readJournal(current.journalFile).filter((entry) => entry.ev === 'run-complete').length ===
          2,
        { what: 'both completions in the journal' },
      )
      expect(await countByStatus(observer)).toEqual({ completed: 2 })
    } finally {
      await observer.destroy()
    }
  }, 60_000)

  it('a 30 s outage of the connection to PostgreSQL loses nothing: every run completes afterwards', async () => {
    const setup = await partitioned()
    if (!setup) return
    const { current, proxy, observer } = setup
    try {
      await observer.migrate()
      const worker = await spawnPartitionWorker(current, { through: proxy, concurrency: 3 })
      workers.push(worker)
      const runs = await observer.jobs.hold.batchTrigger(
        Array.from({ length: 6 }, (_, n) => ({ n: n * 10, stepMs: 400 })),
      )
      await waitUntil(
        () =>
          new Set(
            readJournal(current.journalFile)
              .filter((entry) => entry.ev === 'begin' && entry.pid === worker.pid)
              .map((entry) => entry.run),
          ).size >= 3,
        { what: 'three runs in flight in the proxied worker' },
      )

      await proxy.outage()
      const outageAt = wallClock()
      // The outage's length is the scenario, not a wait for some state.
      await new Promise((resolve) => setTimeout(resolve, 30_000))
      const during = await countByStatus(observer)
      await proxy.heal()
      const healedAt = wallClock()

      await waitUntil(async () => (await countByStatus(observer)).completed === runs.length, {
        timeout: 20_000,
        interval: 100,
        what: 'every run to complete after the outage',
      })
      const completedAt = wallClock()
      const noted = readNoted(current)
      const errors = noted.filter((entry) => entry.ev === 'worker-error')
      expect(errors.length, 'the worker reported the outage').toBeGreaterThan(0)
      console.log(
        `[partition] outage of ${seconds(healedAt - outageAt)} s (runs then ${JSON.stringify(during)}); ` +
          `all ${runs.length} runs completed ${seconds(completedAt - healedAt)} s after it ended; ` +
          `${errors.length} worker:error`,
      )

      for (const { id } of runs) {
        const steps = await observer.getSteps(id)
        expect(steps.map((step) => step.status)).toEqual(Array(4).fill('completed'))
      }
      // The worker journals run:complete after the commit the observer saw: wait for the lines.
      const journal = await waitUntil(
        () => {
          const lines = readJournal(current.journalFile)
          const complete = lines.filter((entry) => entry.ev === 'run-complete').length
          return complete === runs.length ? lines : undefined
        },
        { what: 'every completion in the journal' },
      )
      // One process only: a step begun again is one the outage interrupted before its commit.
      const verdict = checkJournal(journal, new Map(), Number.POSITIVE_INFINITY)
      expect(verdict.violations).toEqual([])
    } finally {
      await observer.destroy()
    }
  }, 90_000)

  it('an idle worker whose listening connection a partition cut silently is woken by notifications again after the heal', async () => {
    const setup = await partitioned()
    if (!setup) return
    const { current, proxy, observer } = setup
    try {
      await observer.migrate()
      // Polling once a minute: within the test only a notification can wake it.
      const applicationName = `durably-partition-${process.pid}-${Date.now()}`
      const idle = await spawnPartitionWorker(current, {
        through: proxy,
        concurrency: 1,
        pollingInterval: 60_000,
        applicationName,
      })
      workers.push(idle)
      await waitUntil(
        async () => {
          const { rows } = await sql`
            SELECT 1 FROM pg_stat_activity
            WHERE application_name = ${applicationName} AND state = 'idle'
              AND query LIKE 'LISTEN%'`.execute(observer.db)
          return rows.length === 1
        },
        { what: 'the idle worker to be listening' },
      )
      proxy.blackhole()
      await waitUntil(
        () =>
          readNoted(current).some((entry) => entry.ev === 'worker-error' && entry.pid === idle.pid),
        { what: 'the idle worker to notice its listening connection no longer answers' },
      )
      await proxy.heal()
      const run = await observer.jobs.hold.trigger({ n: 0, stepMs: 20 })
      await waitUntil(async () => (await observer.getRun(run.id))?.status === 'completed', {
        timeout: 10_000,
        what: 'a notification to wake the idle worker after the heal',
      })
    } finally {
      await observer.destroy()
    }
  }, 60_000)

  it('a pooled connection whose statement timed out is discarded, not handed out again', async () => {
    scenario = await scenarioFor('postgres')
    if (!scenario) return
    const location = scenario.location
    if (location.backend !== 'postgres') throw new Error('unreachable')
    proxy = await startProxy()
    const pool = new pg.Pool({
      connectionString: proxy.rewrite(location.url),
      options: `-c search_path=${location.schema}`,
      max: 3,
      ...POOL_FOR_FAILING_NETWORKS,
    })
    pool.on('error', () => {})
    const durably = createDurably({ dialect: new PostgresDialect({ pool }), listen: pool })
    try {
      await durably.migrate()
      // One statement at a time: each takes the connection the previous one gave back.
      await durably.getRuns()
      expect(pool.totalCount).toBe(1)
      proxy.blackhole()
      const during = await durably.getRuns().catch((error: unknown) => error)
      expect(during).toBeInstanceOf(DatabaseError)
      expect((during as Error).message).toMatch(/Query read timeout/)
      await proxy.heal()
      // Handed out again, the timed-out connection would time this out too.
      expect(await durably.getRuns()).toEqual([])
    } finally {
      await durably.destroy()
    }
  })
})
