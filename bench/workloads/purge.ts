/**
 * Purge beside live work: a libSQL file holding N finished runs (one step each, finished two
 * days ago), then a one-step job triggered over and over, one at a time, with the worker
 * idle in the same process. Measured: trigger → `run:start` (the insert, the wake-up and the
 * claim) without a purge, then while `purgeRuns` removes all N runs in the same process,
 * which is where the `retention` option's sweep runs. The purge is the aggressive kind (no
 * pause between batches; the background sweep pauses 20 ms): a claim waits behind at most
 * one batch, so the max is about one batch's time.
 *
 * Then the batches alone: each purge statement timed on the table filled again, which bounds
 * what a claim can wait for (SQLite's WAL checkpoints, which any writer pays, show in the max).
 *
 * The finished runs and their steps are inserted with one statement per 10k rows through
 * `durably.db`, after `migrate()`.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { type Kysely, sql } from 'kysely'
import { PURGE_BATCH } from '../../src/retention.js'
import { oneStepJob, openBench } from '../setup.js'
import { report, round, summarize } from '../stats.js'

const CHUNK = 10_000

export async function purge(finished: number, samples: number): Promise<void> {
  const bench = await openBench()
  try {
    const durably = bench.open().register({ job: oneStepJob })
    await durably.migrate()
    const db = durably.db as unknown as Kysely<unknown>
    const filled = performance.now()
    for (let low = 0; low < finished; low += CHUNK) {
      await insertFinished(db, low, Math.min(finished, low + CHUNK))
    }
    console.error(
      `[bench] purge: ${finished} finished runs in the table (+${((performance.now() - filled) / 1000).toFixed(1)} s)`,
    )

    // When each run started and finished, by id; a run may start before trigger() returns.
    const startedAt = new Map<string, number>()
    const finishedIds = new Set<string>()
    const waiters = new Map<string, () => void>()
    durably.on('run:start', (event) => {
      startedAt.set(event.runId, performance.now())
      waiters.get(event.runId)?.()
    })
    durably.on('run:complete', (event) => {
      finishedIds.add(event.runId)
      waiters.get(event.runId)?.()
    })
    const until = (id: string, reached: () => boolean) =>
      reached() ? undefined : new Promise<void>((resolve) => waiters.set(id, resolve))
    await durably.init()
    let n = 0
    /** trigger → run:start of one run, then wait for it to finish before the next. */
    const sample = async () => {
      const begun = performance.now()
      const { id } = await durably.jobs.job.trigger({ n: n++ })
      await until(id, () => startedAt.has(id))
      await until(id, () => finishedIds.has(id))
      const latency = startedAt.get(id)! - begun
      startedAt.delete(id)
      finishedIds.delete(id)
      waiters.delete(id)
      return latency
    }

    // Warm up, then the baseline.
    for (let warm = 0; warm < 20; warm++) await sample()
    // The longest the event loop was held: libSQL's statements are synchronous, so this is
    // the longest any one statement (a purge batch, say) kept everything else waiting.
    const loop = monitorEventLoopDelay({ resolution: 1 })
    loop.enable()
    const idle: number[] = []
    for (let index = 0; index < samples; index++) idle.push(await sample())
    loop.disable()
    const idleLoopMax = loop.max / 1e6
    loop.reset()
    loop.enable()

    const beside: number[] = []
    let done = false
    const purgeStarted = performance.now()
    const purging = durably
      .purgeRuns({ olderThan: new Date(Date.now() - 86_400_000) })
      .finally(() => {
        done = true
      })
    while (!done) beside.push(await sample())
    const removed = await purging
    const seconds = (performance.now() - purgeStarted) / 1000
    loop.disable()
    const busyLoopMax = loop.max / 1e6

    // Then each batch alone, timed: what a claim can find in its way. The same statement
    // `purgeRuns` repeats, through the store, on the table filled again.
    for (let low = 0; low < finished; low += CHUNK) {
      await insertFinished(db, low, Math.min(finished, low + CHUNK))
    }
    const batches: number[] = []
    for (;;) {
      const begun = performance.now()
      const count = await durably.storage.purgeRuns({
        olderThan: new Date().toISOString(),
        limit: PURGE_BATCH,
      })
      batches.push(performance.now() - begun)
      if (count < PURGE_BATCH) break
      await new Promise((resolve) => setTimeout(resolve, 0))
    }
    await durably.destroy()

    const quiet = summarize(idle)
    const busy = summarize(beside)
    report({
      workload: 'purge',
      description:
        'trigger → run:start of a 1-step job, sequential, worker idle in the same process, without and during purgeRuns of N finished runs (one step each)',
      finished_runs: finished,
      batch: PURGE_BATCH,
      purged: removed,
      purge_seconds: round(seconds, 1),
      purge_runs_per_second: Math.round(removed / seconds),
      idle_samples: idle.length,
      idle_p50_ms: quiet.p50,
      idle_max_ms: quiet.max,
      idle_event_loop_delay_max_ms: round(idleLoopMax, 1),
      during_purge_samples: beside.length,
      during_purge_p50_ms: busy.p50,
      during_purge_p95_ms: busy.p95,
      during_purge_max_ms: busy.max,
      during_purge_event_loop_delay_max_ms: round(busyLoopMax, 1),
    })
    const batch = summarize(batches)
    report({
      workload: 'purge-batches',
      description:
        'each purge statement alone (100 runs with their steps), timed, over N finished runs',
      finished_runs: finished,
      batches: batches.length,
      batch_p50_ms: batch.p50,
      batch_p99_ms: batch.p99,
      batch_max_ms: batch.max,
    })
  } finally {
    bench.cleanup()
  }
}

async function insertFinished(db: Kysely<unknown>, from: number, to: number) {
  await sql`
    WITH RECURSIVE n(x) AS (SELECT ${from} UNION ALL SELECT x + 1 FROM n WHERE x + 1 < ${to})
    INSERT INTO durably_runs (id, job_name, payload, status, output, lease_generation,
                              started_at, completed_at, created_at, updated_at, available_at)
    SELECT printf('00FINISHED%016d', x), 'one-step', '{"n":0}', 'completed', '0', 1,
           '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z', '2026-01-01T00:00:00.000Z',
           '2026-01-01T00:00:01.000Z', '2026-01-01T00:00:00.000Z'
    FROM n`.execute(db)
  await sql`
    WITH RECURSIVE n(x) AS (SELECT ${from} UNION ALL SELECT x + 1 FROM n WHERE x + 1 < ${to})
    INSERT INTO durably_steps (id, run_id, name, step_index, status, output, started_at,
                               completed_at)
    SELECT printf('00STEP%016d', x), printf('00FINISHED%016d', x), 'only', 0, 'completed', '0',
           '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z'
    FROM n`.execute(db)
}
