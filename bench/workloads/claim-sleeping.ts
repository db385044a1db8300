/**
 * Claim cost beside runs sleeping into the future: 1k, 100k and 1M pending runs of the same
 * job with `available_at` hours to months ahead (a sleep's `wait_for`), then the claim of one
 * fresh pending run, timed through `durably.storage` (the statement the worker uses), and
 * `nextWakeAt` (what an idle worker asks before arming its timer). The partial index of pending
 * runs by `available_at` must keep both flat.
 *
 * The sleeping rows are inserted with one statement per 100k rows through `durably.db`, after
 * `migrate()`. They carry what the run row of a sleeping run carries (status pending, a lease
 * generation, started_at, available_at, wait_for); their steps are not inserted, since neither
 * statement reads steps.
 *
 * libSQL always; PostgreSQL too when reachable (DURABLY_TEST_POSTGRES_URL, in a schema of its
 * own, dropped afterwards).
 */
import { type Kysely, PostgresDialect, sql } from 'kysely'
import pg from 'pg'
import { createDurably } from '../../src/index.js'
import { openBench, threeStepJob } from '../setup.js'
import { report, summarize } from '../stats.js'

const POSTGRES_URL =
  process.env.DURABLY_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const CHUNK = 100_000

const registerJob = (durably: ReturnType<typeof createDurably>) =>
  durably.register({ job: threeStepJob })
type BenchDurably = ReturnType<typeof registerJob>

interface Backend {
  name: 'libsql' | 'postgres'
  durably: BenchDurably
  /** Insert sleeping runs numbered [from, to), due `base` + number seconds. */
  insertSleeping(db: Kysely<unknown>, from: number, to: number, base: string): Promise<void>
  /** After a bulk insert: what the backend needs for its planner to see the new rows. */
  settle(db: Kysely<unknown>): Promise<void>
  close(): Promise<void>
}

export async function claimSleeping(
  sizes: readonly number[],
  samples: number,
  postgresSizes: readonly number[],
): Promise<void> {
  const bench = await openBench()
  try {
    const durably = registerJob(bench.open())
    await measure(sizes, samples, {
      name: 'libsql',
      durably,
      insertSleeping: insertSleepingSqlite,
      settle: async () => {},
      close: () => durably.destroy(),
    })
  } finally {
    bench.cleanup()
  }

  const admin = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 })
  try {
    await admin.connect()
  } catch (error) {
    console.error(
      `[bench] claim-sleeping: PostgreSQL skipped, unreachable at ${POSTGRES_URL} (${(error as Error).message})`,
    )
    return
  }
  const schema = `durably_bench_sleep_${Date.now().toString(36)}`
  await admin.query(`CREATE SCHEMA ${schema}`)
  try {
    const pool = new pg.Pool({
      connectionString: POSTGRES_URL,
      options: `-c search_path=${schema}`,
      max: 4,
    })
    const durably = registerJob(createDurably({ dialect: new PostgresDialect({ pool }) }))
    await measure(postgresSizes, samples, {
      name: 'postgres',
      durably,
      insertSleeping: insertSleepingPostgres,
      // What autovacuum would do soon after a bulk load; without it the planner still
      // believes the table is empty.
      settle: async (db) => {
        await sql`ANALYZE durably_runs`.execute(db)
      },
      close: () => durably.destroy(),
    })
  } finally {
    await admin.query(`DROP SCHEMA ${schema} CASCADE`)
    await admin.end()
  }
}

async function measure(sizes: readonly number[], samples: number, backend: Backend) {
  const { durably } = backend
  try {
    await durably.migrate()
    const db = durably.db as unknown as Kysely<unknown>
    // Hours ahead of now for the first, one more second for each next one: far beyond any claim.
    const base = new Date(Date.now() + 3_600_000).toISOString()
    const jobNames = ['three-steps']
    const claims: Record<number, number> = {}
    const wakes: Record<number, number> = {}
    let inserted = 0
    for (const size of sizes) {
      if (size > inserted) {
        const started = performance.now()
        for (let low = inserted; low < size; low += CHUNK) {
          await backend.insertSleeping(db, low, Math.min(size, low + CHUNK), base)
        }
        await backend.settle(db)
        inserted = size
        console.error(
          `[bench] claim-sleeping (${backend.name}): ${size} sleeping runs in the table (+${((performance.now() - started) / 1000).toFixed(1)} s)`,
        )
      }
      const claimDurations: number[] = []
      const wakeDurations: number[] = []
      for (let sample = 0; sample < samples; sample++) {
        await durably.jobs.job.trigger({ n: sample })
        const now = new Date().toISOString()
        let started = performance.now()
        const claimed = await durably.storage.claimNextRun({
          owner: 'bench',
          jobNames,
          now,
          staleBefore: new Date(Date.now() - 30_000).toISOString(),
          staleThreshold: 30_000,
        })
        claimDurations.push(performance.now() - started)
        if (!claimed) throw new Error('nothing claimed')
        if (claimed.run.id.startsWith('00SLEEPING')) throw new Error('claimed a sleeping run')
        // Settle it so the table holds one pending run at a time, as in steady state.
        await durably.storage.completeRun(claimed.lease, '0', now)
        // What an idle worker asks next: only sleeping runs are pending now.
        started = performance.now()
        const next = await durably.storage.nextWakeAt(jobNames, new Date().toISOString())
        wakeDurations.push(performance.now() - started)
        if (next === null || Date.parse(next) !== Date.parse(base)) {
          throw new Error(`nextWakeAt answered ${next}, expected ${base}`)
        }
      }
      const claim = summarize(claimDurations)
      const wake = summarize(wakeDurations)
      claims[size] = claim.p50
      wakes[size] = wake.p50
      report({
        workload: 'claim-sleeping',
        backend: backend.name,
        description:
          'claimNextRun of one pending run, then nextWakeAt, beside N runs of the same job sleeping into the future',
        sleeping_runs: size,
        samples,
        claim_p50_ms: claim.p50,
        claim_p95_ms: claim.p95,
        next_wake_p50_ms: wake.p50,
        next_wake_p95_ms: wake.p95,
      })
    }
    const from = sizes[0]!
    const to = sizes[sizes.length - 1]!
    report({
      workload: 'claim-sleeping-scaling',
      backend: backend.name,
      from,
      to,
      claim_p50_ratio: Number((claims[to]! / claims[from]!).toFixed(2)),
      next_wake_p50_ratio: Number((wakes[to]! / wakes[from]!).toFixed(2)),
    })
  } finally {
    await backend.close()
  }
}

async function insertSleepingSqlite(db: Kysely<unknown>, from: number, to: number, base: string) {
  await sql`
    WITH RECURSIVE n(x) AS (SELECT ${from} UNION ALL SELECT x + 1 FROM n WHERE x + 1 < ${to}),
    due(x, at) AS (SELECT x, strftime('%Y-%m-%dT%H:%M:%fZ', ${base}, '+' || x || ' seconds') FROM n)
    INSERT INTO durably_runs (id, job_name, payload, status, lease_generation, started_at,
                              created_at, updated_at, available_at, wait_for)
    SELECT printf('00SLEEPING%016d', x), 'three-steps', '{"n":0}', 'pending', 1,
           '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z',
           at, json_object('kind', 'sleep', 'until', at, 'step', 'nap')
    FROM due`.execute(db)
}

async function insertSleepingPostgres(db: Kysely<unknown>, from: number, to: number, base: string) {
  await sql`
    INSERT INTO durably_runs (id, job_name, payload, status, lease_generation, started_at,
                              created_at, updated_at, available_at, wait_for)
    SELECT '00SLEEPING' || lpad(x::text, 16, '0'), 'three-steps', '{"n":0}'::json, 'pending', 1,
           '2026-01-01T00:00:00.000Z'::timestamptz, '2026-01-01T00:00:00.000Z'::timestamptz,
           '2026-01-01T00:00:01.000Z'::timestamptz, at,
           json_build_object('kind', 'sleep',
             'until', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
             'step', 'nap')
    FROM (SELECT x, ${base}::timestamptz + x * interval '1 second' AS at
          FROM generate_series(${from}::int, ${to - 1}::int) AS x) AS due`.execute(db)
}
