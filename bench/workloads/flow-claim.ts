/**
 * Claim cost with a backlog blocked behind full concurrency keys: a job with
 * `concurrency: { limit: 5, key }`, 100 keys each holding 5 running runs, and N pending runs
 * spread evenly over those keys (1k and 100k), all of them parked by the triggers. Timed
 * through `durably.storage` (the statements the worker uses):
 * - `free`: the claim of a fresh run of a key with room, due after the whole backlog;
 * - `idle`: a claim that finds nothing (every key full), what a polling worker does most;
 * - `churn`: one running run of a full key completes (waking one of its parked runs), then
 *   the claim that takes it: the steady state of draining the backlog.
 * Then the same database with the parking triggers dropped and every parked run put back
 * (`parking: false`): what the claim would walk without parking.
 *
 * The backlog is triggered with batchTrigger in chunks; the first 500 runs (5 per key) are
 * then claimed, which fills every key and parks the rest. libSQL always; PostgreSQL with
 * `--postgres` (a schema of its own per size, dropped afterwards).
 */
import { type Kysely, sql } from 'kysely'
import { z } from 'zod'
import { type createDurably, defineJob } from '../../src/index.js'
import { openPostgresBench } from '../postgres.js'
import { openBench } from '../setup.js'
import { report, summarize } from '../stats.js'

const KEYS = 100
const LIMIT = 5
const CHUNK = 5_000

const keyedJob = defineJob({
  name: 'keyed',
  input: z.object({ key: z.string(), n: z.number() }),
  concurrency: { limit: LIMIT, key: (input) => input.key },
  run: async (step, { n }) => step.run('only', () => n),
})

const registerJob = (durably: ReturnType<typeof createDurably>) =>
  durably.register({ job: keyedJob })
type BenchDurably = ReturnType<typeof registerJob>
type Backend = 'libsql' | 'postgres'
type Lease = Parameters<BenchDurably['storage']['completeRun']>[0]

const jobNames = ['keyed']
// The setup's running runs never heartbeat: none may count as abandoned, however long the
// setup took, or a claim would take one over instead of looking at the pending runs.
const staleBefore = () => new Date(0).toISOString()

export async function flowClaim(
  sizes: readonly number[],
  samples: number,
  postgres: boolean,
): Promise<void> {
  const libsql: Medians[] = []
  for (const size of sizes) {
    const bench = await openBench()
    try {
      const durably = registerJob(bench.open())
      try {
        libsql.push(await measureSize('libsql', durably, size, samples))
      } finally {
        await durably.destroy()
      }
    } finally {
      bench.cleanup()
    }
  }
  reportScaling('libsql', sizes, libsql)
  if (!postgres) {
    console.error('[bench] flow-claim: PostgreSQL part skipped (add --postgres)')
    return
  }
  const server = await openPostgresBench('flow-claim')
  if (!server) return
  try {
    const medians: Medians[] = []
    for (const size of sizes) {
      const { durably, close } = await server.open()
      try {
        medians.push(await measureSize('postgres', registerJob(durably), size, samples))
      } finally {
        await close()
      }
    }
    reportScaling('postgres', sizes, medians)
  } finally {
    await server.end()
  }
}

/** p50s by measure, with parking and without. */
type Medians = Record<'parked' | 'unparked', Record<'free' | 'idle' | 'churn', number>>

/** Each p50 at the largest backlog over the same at the smallest (1.0 = flat). */
function reportScaling(backend: Backend, sizes: readonly number[], medians: Medians[]) {
  const first = medians[0]!
  const last = medians[medians.length - 1]!
  for (const state of ['parked', 'unparked'] as const) {
    report({
      workload: 'flow-claim-scaling',
      backend,
      parking: state === 'parked',
      from: sizes[0],
      to: sizes[sizes.length - 1],
      free_claim_p50_ratio: Number((last[state].free / first[state].free).toFixed(2)),
      idle_claim_p50_ratio: Number((last[state].idle / first[state].idle).toFixed(2)),
      churn_claim_p50_ratio: Number((last[state].churn / first[state].churn).toFixed(2)),
    })
  }
}

async function measureSize(
  backend: Backend,
  durably: BenchDurably,
  size: number,
  samples: number,
): Promise<Medians> {
  await durably.migrate()
  const db = durably.db as unknown as Kysely<unknown>
  const started = performance.now()
  // The first LIMIT × KEYS runs (5 per key, due first) are claimed below; the rest is the backlog.
  const total = size + LIMIT * KEYS
  for (let low = 0; low < total; low += CHUNK) {
    const high = Math.min(total, low + CHUNK)
    await durably.jobs.job.batchTrigger(
      Array.from({ length: high - low }, (_, index) => ({
        key: `k${(low + index) % KEYS}`,
        n: low + index,
      })),
    )
  }
  const triggered = performance.now()
  const running = new Map<string, Lease[]>()
  for (let claim = 0; claim < LIMIT * KEYS; claim++) {
    const claimed = await claimOne(durably)
    if (!claimed) throw new Error('the setup claims found nothing')
    const key = keyOf(claimed)
    running.set(key, [...(running.get(key) ?? []), claimed.lease])
  }
  if (backend === 'postgres') await sql`ANALYZE durably_runs`.execute(db)
  const parked = await count(db, sql`parked_from IS NOT NULL`)
  if (parked !== size) throw new Error(`expected ${size} parked runs, found ${parked}`)
  console.error(
    `[bench] flow-claim (${backend}): ${size} runs parked behind ${KEYS} full keys (triggered in ${((triggered - started) / 1000).toFixed(1)} s, keys filled and the rest parked in ${((performance.now() - triggered) / 1000).toFixed(1)} s)`,
  )

  const parkedMedians = await measureState(backend, durably, size, samples, true, running)

  // The comparison: the same backlog, no parking. Claims walk it and test every run's key.
  await dropParking(backend, db)
  await sql`UPDATE durably_runs SET available_at = parked_from, parked_from = NULL
    WHERE parked_from IS NOT NULL`.execute(db)
  if (backend === 'postgres') await sql`ANALYZE durably_runs`.execute(db)
  // A walking claim costs about the backlog: fewer samples keep 100k bounded.
  const walking = size > 10_000 ? Math.max(10, Math.round(samples / 10)) : samples
  const unparked = await measureState(backend, durably, size, walking, false, running)
  return { parked: parkedMedians, unparked }
}

async function measureState(
  backend: Backend,
  durably: BenchDurably,
  size: number,
  samples: number,
  parking: boolean,
  running: Map<string, Lease[]>,
): Promise<Medians['parked']> {
  const free: number[] = []
  const idle: number[] = []
  const churnComplete: number[] = []
  const churnClaim: number[] = []
  for (let sample = 0; sample < samples; sample++) {
    // free: a run of a key with room, due after the whole backlog.
    await durably.jobs.job.trigger({ key: `free-${parking}-${sample}`, n: sample })
    let [claimed, ms] = await timedClaim(durably)
    free.push(ms)
    if (!claimed || !keyOf(claimed).startsWith('free-')) {
      throw new Error('the free claim did not take the fresh run')
    }
    await durably.storage.completeRun(claimed.lease, '0', new Date().toISOString())

    // idle: every key is full.
    ;[claimed, ms] = await timedClaim(durably)
    idle.push(ms)
    if (claimed) throw new Error('the idle claim took a run of a full key')

    // churn: a key frees one slot, the claim takes its next run.
    const key = `k${sample % KEYS}`
    const leases = running.get(key)!
    const lease = leases.shift()!
    const before = performance.now()
    if (!(await durably.storage.completeRun(lease, '0', new Date().toISOString()))) {
      throw new Error('a running run of the backlog could not complete')
    }
    churnComplete.push(performance.now() - before)
    ;[claimed, ms] = await timedClaim(durably)
    churnClaim.push(ms)
    if (!claimed || keyOf(claimed) !== key) {
      throw new Error(
        `the churn claim did not take the next run of ${key}: it took ${claimed ? keyOf(claimed) : 'nothing'}`,
      )
    }
    leases.push(claimed.lease)
  }
  const line = (name: string, durations: number[]) => {
    const { p50, p95 } = summarize(durations)
    return { [`${name}_p50_ms`]: p50, [`${name}_p95_ms`]: p95 }
  }
  report({
    workload: 'flow-claim',
    backend,
    description: `claimNextRun beside N pending runs spread over ${KEYS} keys of concurrency limit ${LIMIT}, every key full: a fresh run of a free key (free), nothing claimable (idle), a slot freed then its key's next run (churn)`,
    pending_runs: size,
    parking,
    samples,
    ...line('free_claim', free),
    ...line('idle_claim', idle),
    ...line('churn_complete', churnComplete),
    ...line('churn_claim', churnClaim),
  })
  return {
    free: summarize(free).p50,
    idle: summarize(idle).p50,
    churn: summarize(churnClaim).p50,
  }
}

function keyOf(claimed: { payload: { ok: boolean; value?: unknown } }): string {
  if (!claimed.payload.ok) throw new Error('a claimed run has an unreadable input')
  return (claimed.payload.value as { key: string }).key
}

async function claimOne(durably: BenchDurably) {
  return durably.storage.claimNextRun({
    owner: 'bench',
    jobNames,
    now: new Date().toISOString(),
    staleBefore: staleBefore(),
    staleThreshold: Date.now(),
  })
}

async function timedClaim(durably: BenchDurably) {
  const request = {
    owner: 'bench',
    jobNames,
    now: new Date().toISOString(),
    staleBefore: staleBefore(),
    staleThreshold: Date.now(),
  }
  const started = performance.now()
  const claimed = await durably.storage.claimNextRun(request)
  return [claimed, performance.now() - started] as const
}

async function count(db: Kysely<unknown>, where: ReturnType<typeof sql>): Promise<number> {
  const result = await sql<{ n: number | string }>`
    SELECT COUNT(*) AS n FROM durably_runs WHERE ${where}`.execute(db)
  return Number(result.rows[0]?.n)
}

async function dropParking(backend: Backend, db: Kysely<unknown>): Promise<void> {
  for (const name of [
    'durably_runs_key_filled',
    'durably_runs_slot_taken',
    'durably_runs_key_full_insert',
    'durably_runs_key_freed',
  ]) {
    if (backend === 'libsql') await sql`DROP TRIGGER IF EXISTS ${sql.raw(name)}`.execute(db)
    else await sql`DROP TRIGGER IF EXISTS ${sql.raw(name)} ON durably_runs`.execute(db)
  }
}
