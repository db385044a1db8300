/**
 * Claim latency as finished runs pile up: 1k, 100k and 1M terminal runs of the same job in
 * the table, then the claim of a fresh pending run, timed through `durably.storage` (the
 * statement the worker uses). The indexes must keep it flat.
 */
import { openBench, threeStepJob } from '../setup.js'
import { report, summarize } from '../stats.js'

export async function claimLatency(tableSizes: readonly number[], samples: number): Promise<void> {
  const bench = await openBench()
  try {
    const durably = bench.open().register({ job: threeStepJob })
    await durably.migrate()
    let inserted = 0
    const results: Record<string, number> = {}
    for (const size of tableSizes) {
      await fillTerminalRuns(bench.raw, inserted, size)
      inserted = size
      const durations: number[] = []
      for (let sample = 0; sample < samples; sample++) {
        await durably.jobs.job.trigger({ n: sample })
        const now = new Date().toISOString()
        const started = performance.now()
        const claimed = await durably.storage.claimNextRun({
          owner: 'bench',
          jobNames: ['three-steps'],
          now,
          staleBefore: new Date(Date.now() - 30_000).toISOString(),
          staleThreshold: 30_000,
        })
        durations.push(performance.now() - started)
        if (!claimed) throw new Error('nothing claimed')
        // Settle it so the table holds one pending run at a time, as in steady state.
        await durably.storage.completeRun(claimed.lease, '0', now)
      }
      const { p50, p95 } = summarize(durations)
      results[size] = p50
      report({
        workload: 'claim',
        description: 'claimNextRun of one pending run beside N terminal runs of the same job',
        terminal_runs: size,
        samples,
        p50_ms: p50,
        p95_ms: p95,
      })
    }
    const smallest = results[tableSizes[0]!]!
    const largest = results[tableSizes[tableSizes.length - 1]!]!
    report({
      workload: 'claim-scaling',
      from: tableSizes[0],
      to: tableSizes[tableSizes.length - 1],
      p50_ratio: Number((largest / smallest).toFixed(2)),
    })
    await durably.destroy()
  } finally {
    bench.cleanup()
  }
}

async function fillTerminalRuns(
  raw: Awaited<ReturnType<typeof openBench>>['raw'],
  from: number,
  to: number,
): Promise<void> {
  if (to <= from) return
  const started = performance.now()
  // One statement per 100k rows: fast, and the transaction stays bounded.
  for (let low = from; low < to; low += 100_000) {
    const high = Math.min(to, low + 100_000)
    await raw.execute({
      sql: `WITH RECURSIVE n(x) AS (SELECT ? UNION ALL SELECT x + 1 FROM n WHERE x + 1 < ?)
            INSERT INTO durably_runs (id, job_name, payload, status, output, lease_generation,
                                      heartbeat_at, started_at, completed_at, created_at, updated_at)
            SELECT printf('00TERMINAL%016d', x), 'three-steps', '{"n":0}', 'completed', '3', 1,
                   '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z',
                   '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z'
            FROM n`,
      args: [low, high],
    })
  }
  console.error(
    `[bench] claim: ${to} terminal runs in the table (+${((performance.now() - started) / 1000).toFixed(1)} s)`,
  )
}
