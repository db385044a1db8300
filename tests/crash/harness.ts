/**
 * Crash scenarios: worker processes on one database, killed with SIGKILL at seeded random
 * moments and restarted, then drained; the journal and the database are then checked for
 * lost, doubled or overlapping work. The seed is printed so a failure can be replayed.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import pg from 'pg'
import { createDurably } from '../../src/index.js'
import { POSTGRES_URL, postgresBackend } from '../support/postgres.js'
import { type CrashBackend, type DatabaseLocation, fileLocation, openDialect } from './database.js'
import { crashJobs, STEP_NAMES } from './jobs.js'
import { type JournalEntry, openJournal, readJournal, wallClock } from './journal.js'

const WORKER_SCRIPT = join(import.meta.dirname, 'worker-process.ts')

export interface Scenario {
  location: DatabaseLocation
  journalFile: string
  cleanup(): Promise<void>
}

/** The process counts every crash test runs: 1, 2 and 4 on one libSQL file, 4 on PostgreSQL. */
export const CRASH_CASES = [
  { backend: 'libsql', processes: 1 },
  { backend: 'libsql', processes: 2 },
  { backend: 'libsql', processes: 4 },
  { backend: 'better-sqlite3', processes: 2 },
  { backend: 'postgres', processes: 4 },
] as const

/**
 * A fresh scenario for a case, or undefined (with one line saying why) where PostgreSQL is
 * unreachable off CI; in CI an unreachable PostgreSQL fails the test instead.
 */
export async function scenarioFor(backend: CrashBackend): Promise<Scenario | undefined> {
  if (backend === 'postgres' && postgresBackend.unavailable) {
    console.warn(`[crash] skipping PostgreSQL: ${postgresBackend.unavailable}`)
    return undefined
  }
  return createScenario(backend, POSTGRES_URL)
}

export async function createScenario(backend: CrashBackend, postgresUrl = ''): Promise<Scenario> {
  const dir = mkdtempSync(join(tmpdir(), 'durably-crash-'))
  const journalFile = join(dir, 'journal.ndjson')
  if (backend !== 'postgres') {
    return {
      location: fileLocation(backend, dir),
      journalFile,
      async cleanup() {
        rmSync(dir, { recursive: true, force: true })
      },
    }
  }
  const schema = `durably_crash_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 7)}`
  const admin = new pg.Client({ connectionString: postgresUrl })
  await admin.connect()
  await admin.query(`CREATE SCHEMA ${schema}`)
  await admin.end()
  return {
    location: { backend: 'postgres', url: postgresUrl, schema },
    journalFile,
    async cleanup() {
      const client = new pg.Client({ connectionString: postgresUrl })
      await client.connect()
      await client.query(`DROP SCHEMA ${schema} CASCADE`)
      await client.end()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** The test's own view of the database: it triggers and inspects, it never works. */
export function openObserver(scenario: Scenario) {
  return createDurably({ dialect: openDialect(scenario.location) }).register(
    crashJobs(openJournal(scenario.journalFile), () => 0),
  )
}

export interface WorkerHandle {
  child: ChildProcess
  pid: number
  exited: Promise<number | null>
}

export function spawnWorker(
  scenario: Scenario,
  env: Record<string, string> = {},
): Promise<WorkerHandle> {
  return spawnReady(WORKER_SCRIPT, {
    DURABLY_CRASH_DB: JSON.stringify(scenario.location),
    DURABLY_CRASH_JOURNAL: scenario.journalFile,
    ...env,
  })
}

/** Start a worker script under tsx with these variables; resolves once it prints `ready`. */
export async function spawnReady(
  script: string,
  env: Record<string, string>,
): Promise<WorkerHandle> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  await new Promise<void>((resolve, reject) => {
    void exited.then((code) => reject(new Error(`worker exited with ${code} before ready`)))
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line === 'ready') resolve()
    })
  })
  return { child, pid: child.pid!, exited }
}

/** Kill every worker a test started (SIGCONT first, in case one was left frozen). */
export async function killWorkers(workers: WorkerHandle[]): Promise<void> {
  for (const worker of workers.splice(0)) {
    worker.child.kill('SIGCONT')
    worker.child.kill('SIGKILL')
    await worker.exited
  }
}

/** A small seeded PRNG (mulberry32): the same seed replays the same kill schedule. */
export function seededRandom(seed: number) {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function crashSeed(): number {
  const given = process.env.DURABLY_CRASH_SEED
  const seed = given ? Number(given) : Math.floor(Math.random() * 2 ** 31)
  console.log(`[crash] seed ${seed} (replay with DURABLY_CRASH_SEED=${seed})`)
  return seed
}

export interface ChaosOptions {
  processes: number
  runs: number
  kills: number
  seed: number
  /** Longest pause between two kills (ms). */
  maxPause?: number
  /** Mean duration of a step body (ms); long enough that the kills land mid-work. */
  stepMs?: number
  /**
   * Store the scenario's runs (`runs` of them), once the workers are up (so delays count
   * from there). Default: `runs` runs of the `work` job, stored before the workers start.
   */
  trigger?: (observer: Observer) => Promise<unknown>
  /**
   * Wait for the moment of the next kill, drawing from the chaos's seeded `random`.
   * Default: a random pause of up to `maxPause`.
   */
  pause?: (observer: Observer, random: () => number) => Promise<void>
  /** More environment for the worker processes (e.g. DURABLY_CRASH_CONCURRENCY). */
  env?: Record<string, string>
  /**
   * Which worker to kill next: an index into the workers' pids, drawing from the chaos's
   * seeded `random`. Default: any of them, at random.
   */
  victim?: (pids: number[], random: () => number) => Promise<number>
}

export type Observer = ReturnType<typeof openObserver>

export interface ChaosResult {
  kills: number
  /** pid → when it was killed (wall clock), for closing its unfinished step intervals. */
  killedAt: Map<number, number>
  /** The workers the chaos killed (not the ones stopped at the end), in order. */
  victims: { pid: number; t: number }[]
  seconds: number
}

/**
 * Trigger `runs` runs, keep `processes` workers alive while killing one at a random moment
 * `kills` times (restarting it), then wait until every run completed.
 */
export async function runChaos(scenario: Scenario, options: ChaosOptions): Promise<ChaosResult> {
  const random = seededRandom(options.seed)
  const observer = openObserver(scenario)
  await observer.migrate()
  if (!options.trigger) {
    await observer.jobs.work.batchTrigger(Array.from({ length: options.runs }, (_, n) => ({ n })))
  }
  const started = performance.now()
  const env = {
    DURABLY_CRASH_STEP_MS: String(options.stepMs ?? 25 * options.processes),
    ...options.env,
  }
  const workers = await Promise.all(
    Array.from({ length: options.processes }, () => spawnWorker(scenario, env)),
  )
  const killedAt = new Map<number, number>()
  const victims: { pid: number; t: number }[] = []
  let kills = 0
  try {
    if (options.trigger) await options.trigger(observer)
    while (kills < options.kills) {
      // The pause is the chaos schedule, not a wait for state.
      if (options.pause) await options.pause(observer, random)
      else await new Promise((resolve) => setTimeout(resolve, random() * (options.maxPause ?? 150)))
      const pending = await observer.getRuns({ status: 'pending', limit: 1 })
      const running = await observer.getRuns({ status: 'running', limit: 1 })
      if (pending.length === 0 && running.length === 0) break
      const index = options.victim
        ? await options.victim(
            workers.map((worker) => worker.pid),
            random,
          )
        : Math.floor(random() * workers.length)
      const victim = workers[index]!
      victim.child.kill('SIGKILL')
      killedAt.set(victim.pid, wallClock())
      victims.push({ pid: victim.pid, t: killedAt.get(victim.pid)! })
      await victim.exited
      kills += 1
      workers[index] = await spawnWorker(scenario, env)
    }
    await waitForAllCompleted(observer, options.runs, 120_000)
  } finally {
    for (const worker of workers) worker.child.kill('SIGKILL')
    await Promise.all(workers.map((worker) => worker.exited))
    const end = wallClock()
    for (const worker of workers) killedAt.set(worker.pid, end)
    await observer.destroy()
  }
  return { kills, killedAt, victims, seconds: (performance.now() - started) / 1000 }
}

export async function countByStatus(
  observer: Pick<Observer, 'db'>,
): Promise<Record<string, number>> {
  const rows = await observer.db
    .selectFrom('durably_runs')
    .select(['status', (eb) => eb.fn.countAll<number>().as('count')])
    .groupBy('status')
    .execute()
  return Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]))
}

async function waitForAllCompleted(observer: Observer, runs: number, timeout: number) {
  const deadline = Date.now() + timeout
  for (;;) {
    const counts = await countByStatus(observer)
    if ((counts.completed ?? 0) >= runs) return
    if (Date.now() > deadline) {
      throw new Error(`runs not all completed in time: ${JSON.stringify(counts)}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

export interface JournalVerdict {
  violations: string[]
  stepExecutions: number
  reexecutions: number
}

/**
 * Check the journal: no step body in two processes at once, none begun again after its
 * `step.run` returned, no run completed twice, and re-executions no more than kills.
 */
export function checkJournal(
  entries: JournalEntry[],
  killedAt: Map<number, number>,
  kills: number,
): JournalVerdict {
  const violations: string[] = []
  const byStep = new Map<string, JournalEntry[]>()
  const completions = new Map<string, number>()
  for (const entry of entries) {
    if (entry.ev === 'run-complete') {
      completions.set(entry.run, (completions.get(entry.run) ?? 0) + 1)
      continue
    }
    if (!entry.step) continue
    const key = `${entry.run}/${entry.step}`
    const list = byStep.get(key) ?? []
    list.push(entry)
    byStep.set(key, list)
  }
  for (const [run, count] of completions) {
    if (count > 1) violations.push(`run ${run} completed ${count} times`)
  }
  let stepExecutions = 0
  let reexecutions = 0
  for (const [key, list] of byStep) {
    const intervals: { pid: number; from: number; to: number }[] = []
    for (const begin of list.filter((entry) => entry.ev === 'begin')) {
      const end = list.find(
        (entry) => entry.ev === 'end' && entry.pid === begin.pid && entry.t >= begin.t,
      )
      intervals.push({
        pid: begin.pid,
        from: begin.t,
        to: end?.t ?? killedAt.get(begin.pid) ?? Number.POSITIVE_INFINITY,
      })
    }
    stepExecutions += intervals.length
    reexecutions += Math.max(0, intervals.length - 1)
    for (const a of intervals) {
      for (const b of intervals) {
        if (a !== b && a.pid !== b.pid && a.from < b.to && b.from < a.to) {
          violations.push(`step ${key} ran in processes ${a.pid} and ${b.pid} at once`)
        }
      }
    }
    const returned = list.find((entry) => entry.ev === 'returned')
    if (returned) {
      for (const begin of list) {
        if (begin.ev === 'begin' && begin.t > returned.t) {
          violations.push(`step ${key} began again in ${begin.pid} after it had returned`)
        }
      }
    }
  }
  if (reexecutions > kills) {
    violations.push(`${reexecutions} step re-executions for ${kills} kills`)
  }
  return { violations: [...new Set(violations)], stepExecutions, reexecutions }
}

export { readJournal, STEP_NAMES }
