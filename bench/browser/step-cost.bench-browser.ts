/**
 * What a durable step costs in a real headless Chromium, on SQLite in OPFS through SQLocal,
 * beside the same writes made by hand through the same SQLocal. One command, a few minutes:
 *
 *   npm run bench:browser     (vitest run --config bench/browser/vitest.config.ts)
 *
 * Prints one JSON line per workload on stdout (bench/stats.ts's style), medians of
 * BROWSER_BENCH_ROUNDS alternating rounds (durably first in even rounds, the floor first in odd
 * ones), each workload on a fresh OPFS database of its own:
 * - `browser-floor`: raw SQLocal, per run: insert a run row, claim it, 3 step rows, complete
 *   (bench/workloads/floor.ts's statements, one autocommitted statement each); and a run of
 *   BROWSER_BENCH_STEPS step rows inserted one after another (the raw step write).
 * - `browser-per-step`: durably, library defaults, one run of BROWSER_BENCH_STEPS steps,
 *   run:start to run:complete; against the raw step write.
 * - `browser-throughput`: durably, BROWSER_BENCH_RUNS runs of a 3-step job, batchTrigger then
 *   the worker until the last completes; against the floor's runs/s.
 * - `browser-breakdown-*` lines (step-breakdown.ts): one instrumented run, where a step's time
 *   goes (statements, SQLocal round trips, OPFS calls, timers), beside raw inserts.
 * - `browser-experiment-journal-mode` lines: raw inserts and a durably run under DELETE (what
 *   SQLite keeps when OPFS refuses WAL), PERSIST and TRUNCATE.
 * - `browser-opfs-primitives`: OPFS alone (sync access handle writes, flushes, a journal
 *   file's life, an Atomics round trip between workers), for what the floor is made of.
 * Every database is checked to be in OPFS (SQLocal's storageType, the file's size in OPFS,
 * durably's `storage:volatile` never said): SQLocal's in-memory fallback would be far faster.
 */
import { inject, it } from 'vitest'
import { breakdown, journalModes, opfsProbe } from './step-breakdown.js'
import {
  durablyOn,
  FLOOR_SQL,
  manyStepsJob,
  median,
  note,
  type OpfsDatabase,
  openOpfs,
  opfsFileSize,
  pragmas,
  rawClaimedRun,
  rawRun,
  report,
  round,
  threeStepJob,
} from './support.js'

const steps = inject('steps')
const runs = inject('runs')
const rounds = inject('rounds')

let storage: Record<string, unknown> | undefined

async function checkStorage(db: OpfsDatabase) {
  const info = await db.client.getDatabaseInfo()
  const size = await opfsFileSize(db.file)
  if (info.storageType !== 'opfs' || size === 0) {
    throw new Error(`${db.file} is not in OPFS: ${JSON.stringify(info)}, ${size} bytes there`)
  }
  storage ??= {
    storage: info.storageType,
    profile: inject('profile'),
    ...(await pragmas(db.client)),
  }
}

async function durablyPerStep(): Promise<number> {
  const db = await openOpfs('per-step')
  try {
    const durably = await durablyOn(db, { job: manyStepsJob(steps) })
    await durably.jobs.job.trigger({})
    let started = 0
    durably.on('run:start', () => {
      started = performance.now()
    })
    const finished = new Promise<number>((resolve) =>
      durably.on('run:complete', () => resolve(performance.now())),
    )
    durably.start()
    const elapsed = (await finished) - started
    await durably.stop()
    const [count] = await db.client.sql<{ n: number }>('SELECT count(*) AS n FROM durably_steps')
    if (count?.n !== steps) throw new Error(`expected ${steps} step rows, found ${count?.n}`)
    await checkStorage(db)
    await durably.destroy()
    return elapsed / steps
  } finally {
    await db.close()
  }
}

async function durablyThroughput(): Promise<number> {
  const db = await openOpfs('throughput')
  try {
    const durably = await durablyOn(db, { job: threeStepJob })
    let completed = 0
    const done = new Promise<void>((resolve) =>
      durably.on('run:complete', () => {
        if (++completed === runs) resolve()
      }),
    )
    const started = performance.now()
    await durably.jobs.job.batchTrigger(Array.from({ length: runs }, (_, n) => ({ n })))
    durably.start()
    await done
    const elapsed = performance.now() - started
    await durably.stop()
    await checkStorage(db)
    await durably.destroy()
    return elapsed / runs
  } finally {
    await db.close()
  }
}

/** The floor on a database migrated by durably (same schema, same pragmas), never started. */
async function floor(): Promise<{ msPerRun: number; msPerStepWrite: number; writeP50: number }> {
  const db = await openOpfs('floor')
  try {
    await durablyOn(db, { job: threeStepJob })
    const { client } = db
    const started = performance.now()
    for (let n = 0; n < runs; n++) {
      await rawRun(client, `floor-${n.toString().padStart(8, '0')}`, n, 3)
    }
    const msPerRun = (performance.now() - started) / runs
    // The per-step floor: one claimed run, then its step rows one after another.
    const id = 'floor-steps'
    const now = new Date().toISOString()
    await rawClaimedRun(client, id)
    const writes: number[] = []
    const first = performance.now()
    for (let step = 0; step < steps; step++) {
      const before = performance.now()
      await client.sql(
        FLOOR_SQL.insertStep,
        `${id}-${step}`,
        id,
        'step',
        step,
        String(step),
        now,
        now,
      )
      writes.push(performance.now() - before)
    }
    const msPerStepWrite = (performance.now() - first) / steps
    await checkStorage(db)
    return { msPerRun, msPerStepWrite, writeP50: median(writes) }
  } finally {
    await db.close()
  }
}

it('durable steps against raw SQLocal writes, in OPFS', async () => {
  const perStep: number[] = []
  const perRun: number[] = []
  const floorRun: number[] = []
  const floorStep: number[] = []
  const floorP50: number[] = []
  for (let r = 0; r < rounds; r++) {
    const durablyRound = async () => {
      await note(`round ${r + 1}/${rounds}: durably, one run of ${steps} steps`)
      perStep.push(await durablyPerStep())
      await note(`round ${r + 1}/${rounds}: durably, ${runs} runs of 3 steps`)
      perRun.push(await durablyThroughput())
    }
    const floorRound = async () => {
      await note(`round ${r + 1}/${rounds}: floor, ${runs} runs by hand and ${steps} step rows`)
      const measured = await floor()
      floorRun.push(measured.msPerRun)
      floorStep.push(measured.msPerStepWrite)
      floorP50.push(measured.writeP50)
    }
    if (r % 2 === 0) {
      await durablyRound()
      await floorRound()
    } else {
      await floorRound()
      await durablyRound()
    }
  }
  const floorMsPerRun = median(floorRun)
  const rawWrite = median(floorStep)
  await report({
    workload: 'browser-floor',
    description:
      'raw SQLocal in OPFS: insert run, claim, 3 step rows, complete (autocommit each); and one run of step rows one after another',
    ...storage,
    runs,
    rounds,
    ms_per_run: round(floorMsPerRun),
    runs_per_s: Math.round(1000 / floorMsPerRun),
    raw_step_write_ms: round(rawWrite),
    raw_step_write_p50_ms: round(median(floorP50)),
    rounds_ms_per_run: floorRun.map((v) => round(v)),
    rounds_raw_step_write_ms: floorStep.map((v) => round(v)),
  })
  const msPerStep = median(perStep)
  await report({
    workload: 'browser-per-step',
    description: `one run of ${steps} steps, run:start to run:complete, library defaults`,
    steps,
    rounds,
    ms_per_step: round(msPerStep),
    raw_write_ms: round(rawWrite),
    ratio_to_raw_write: round(msPerStep / rawWrite, 2),
    // Each round's durably and floor ran back to back: their ratio resists a load that drifts
    // between rounds (other processes on the machine).
    ratio_median_of_rounds: round(median(perStep.map((v, r) => v / floorStep[r]!)), 2),
    rounds_ms_per_step: perStep.map((v) => round(v)),
  })
  const msPerRun = median(perRun)
  await report({
    workload: 'browser-throughput',
    description: `${runs} 3-step runs, batchTrigger then worker with defaults, until the last completes`,
    runs,
    rounds,
    ms_per_run: round(msPerRun),
    runs_per_s: round(1000 / msPerRun, 1),
    floor_runs_per_s: round(1000 / floorMsPerRun, 1),
    ratio_to_floor: round(floorMsPerRun / msPerRun, 2),
    ratio_median_of_rounds: round(median(perRun.map((v, r) => floorRun[r]! / v)), 2),
    rounds_ms_per_run: perRun.map((v) => round(v)),
  })
})

it('where a step goes: statements, round trips, OPFS calls, timers', async () => {
  await note('breakdown: one instrumented run, then raw inserts on the same worker')
  await breakdown(steps)
})

it('journal modes: the floor and a step under DELETE (what OPFS leaves), PERSIST, TRUNCATE', async () => {
  await note('journal modes: raw inserts and a durably run under each')
  await journalModes(steps, 2)
})

it('OPFS itself: the primitives a write transaction is made of', async () => {
  await opfsProbe()
})
