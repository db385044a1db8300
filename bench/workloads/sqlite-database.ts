/**
 * A SQLite database object through Kysely's SqliteDialect (better-sqlite3, and libSQL's own
 * `Database`, shaped like it), with and without `cacheStatements`: N runs of a 3-step job
 * (batchTrigger, then drain), rounds alternating, against the same driver's floor (the same
 * writes by hand, each statement prepared once as hand-written code with these drivers does,
 * autocommit each). WAL and synchronous NORMAL, as durably sets them.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import BetterSqlite3 from 'better-sqlite3'
import { type SqliteDatabase, SqliteDialect } from 'kysely'
import Libsql from 'libsql'
import { cacheStatements, createDurably } from '../../src/index.js'
import { drainThreeStepRuns, threeStepJob } from '../setup.js'
import { median, report, round } from '../stats.js'

type Variant = 'plain' | 'cached'

/** The part of both drivers' database the workload uses. */
interface Driven extends SqliteDatabase {
  pragma(source: string): unknown
  prepare(
    sql: string,
  ): SqliteDatabase['prepare'] extends (sql: string) => infer S
    ? S & { run(...values: unknown[]): unknown }
    : never
}

const DRIVERS: Record<string, (file: string) => Driven> = {
  'better-sqlite3': (file) => new BetterSqlite3(file, { timeout: 1000 }) as unknown as Driven,
  libsql: (file) => new Libsql(file, { timeout: 1000 }) as unknown as Driven,
}

export async function sqliteDatabaseThroughput(runs: number, rounds: number): Promise<void> {
  for (const driver of Object.keys(DRIVERS)) await driverThroughput(driver, runs, rounds)
}

async function driverThroughput(driver: string, runs: number, rounds: number): Promise<void> {
  const results: Record<Variant | 'floor', { msPerRun: number; cpuUsPerRun: number }[]> = {
    plain: [],
    cached: [],
    floor: [],
  }
  for (let round = 0; round < rounds; round++) {
    results.floor.push(await floorRound(driver, runs))
    for (const variant of round % 2
      ? (['cached', 'plain'] as const)
      : (['plain', 'cached'] as const)) {
      results[variant].push(await durablyRound(driver, runs, variant))
    }
  }
  const floorMs = median(results.floor.map((result) => result.msPerRun))
  report({
    workload: 'sqlite-database-floor',
    driver,
    description:
      'raw driver: insert run, claim, 3 step rows, complete (statements prepared once, autocommit each); medians',
    runs,
    rounds,
    ms_per_run: round(floorMs),
    runs_per_s: Math.round(1000 / floorMs),
  })
  for (const variant of ['plain', 'cached'] as const) {
    const ms = median(results[variant].map((result) => result.msPerRun))
    report({
      workload: 'sqlite-database-throughput',
      driver,
      statements: variant === 'cached' ? 'cacheStatements' : 'prepared each time',
      description:
        '3-step runs, batchTrigger then worker with defaults, until the last completes; medians',
      runs,
      rounds,
      ms_per_run: round(ms),
      runs_per_s: Math.round(1000 / ms),
      rounds_ms_per_run: results[variant].map((result) => round(result.msPerRun)),
      cpu_us_per_run: Math.round(median(results[variant].map((result) => result.cpuUsPerRun))),
      floor_runs_per_s: Math.round(1000 / floorMs),
      ratio_to_floor: round(floorMs / ms, 2),
    })
  }
}

function open(driver: string): { database: Driven; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'durably-bench-sqlite-'))
  const database = DRIVERS[driver]!(join(dir, 'bench.db'))
  database.pragma('journal_mode = WAL')
  database.pragma('synchronous = NORMAL')
  return {
    database,
    cleanup() {
      database.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

async function durablyRound(driver: string, runs: number, variant: Variant) {
  const { database, cleanup } = open(driver)
  const wrapped = variant === 'cached' ? cacheStatements(database) : database
  const durably = createDurably({ dialect: new SqliteDialect({ database: wrapped }) }).register({
    job: threeStepJob,
  })
  try {
    await durably.migrate()
    const { elapsedMs, cpuUs } = await drainThreeStepRuns(durably, durably.jobs.job, runs)
    return { msPerRun: elapsedMs / runs, cpuUsPerRun: cpuUs / runs }
  } finally {
    await durably.stop()
    cleanup()
  }
}

async function floorRound(driver: string, runs: number) {
  const { database, cleanup } = open(driver)
  const schema = createDurably({ dialect: new SqliteDialect({ database }) })
  try {
    await schema.migrate()
    const insert =
      database.prepare(`INSERT INTO durably_runs (id, job_name, payload, status, lease_generation, created_at, updated_at)
      VALUES (?, 'three-steps', ?, 'pending', 0, ?, ?)`)
    const claim =
      database.prepare(`UPDATE durably_runs SET status = 'running', lease_owner = 'floor',
      lease_generation = lease_generation + 1, heartbeat_at = ?, started_at = ?, updated_at = ? WHERE id = ?`)
    const step =
      database.prepare(`INSERT INTO durably_steps (id, run_id, name, step_index, status, output, started_at, completed_at)
      VALUES (?, ?, ?, ?, 'completed', ?, ?, ?)`)
    const complete =
      database.prepare(`UPDATE durably_runs SET status = 'completed', output = ?, lease_owner = NULL,
      completed_at = ?, updated_at = ? WHERE id = ?`)
    const cpu = process.cpuUsage()
    const started = performance.now()
    for (let n = 0; n < runs; n++) {
      const id = `floor-${n.toString().padStart(8, '0')}`
      const now = new Date().toISOString()
      insert.run(id, `{"n":${n}}`, now, now)
      claim.run(now, now, now, id)
      for (let index = 0; index < 3; index++) {
        step.run(`${id}-${index}`, id, String(index), index, String(n + index), now, now)
      }
      complete.run(String(n + 3), now, now, id)
      // Hand-written async code yields between runs as durably's worker does.
      await Promise.resolve()
    }
    const elapsed = performance.now() - started
    const used = process.cpuUsage(cpu)
    return { msPerRun: elapsed / runs, cpuUsPerRun: (used.user + used.system) / runs }
  } finally {
    await schema.destroy().catch(() => undefined)
    cleanup()
  }
}
