/**
 * The floor: the same driver doing the same writes by hand on the same schema, with no
 * library around them: insert a run, claim it, insert three step rows, complete it. Each
 * statement autocommits, as durably's do. Also the cost of one raw write (a step row).
 */
import { openBench } from '../setup.js'
import { report, round, summarize } from '../stats.js'

export interface Floor {
  msPerRun: number
  runsPerSecond: number
  rawWriteMs: number
}

export async function floor(runs: number): Promise<Floor> {
  const bench = await openBench()
  try {
    await bench.open().migrate()
    const { raw } = bench
    const writes: number[] = []
    const cpu = process.cpuUsage()
    const started = performance.now()
    for (let n = 0; n < runs; n++) {
      const id = `floor-${n.toString().padStart(8, '0')}`
      const now = new Date().toISOString()
      await raw.execute({
        sql: `INSERT INTO durably_runs (id, job_name, payload, status, lease_generation, created_at, updated_at)
              VALUES (?, 'three-steps', ?, 'pending', 0, ?, ?)`,
        args: [id, `{"n":${n}}`, now, now],
      })
      await raw.execute({
        sql: `UPDATE durably_runs SET status = 'running', lease_owner = 'floor',
              lease_generation = lease_generation + 1, heartbeat_at = ?, started_at = ?, updated_at = ?
              WHERE id = ?`,
        args: [now, now, now, id],
      })
      for (let step = 0; step < 3; step++) {
        const before = performance.now()
        await raw.execute({
          sql: `INSERT INTO durably_steps (id, run_id, name, step_index, status, output, started_at, completed_at)
                VALUES (?, ?, ?, ?, 'completed', ?, ?, ?)`,
          args: [`${id}-${step}`, id, String(step), step, String(n + step), now, now],
        })
        writes.push(performance.now() - before)
      }
      await raw.execute({
        sql: `UPDATE durably_runs SET status = 'completed', output = ?, lease_owner = NULL,
              completed_at = ?, updated_at = ? WHERE id = ?`,
        args: [String(n + 3), now, now, id],
      })
    }
    const elapsed = performance.now() - started
    const used = process.cpuUsage(cpu)
    const result: Floor = {
      msPerRun: elapsed / runs,
      runsPerSecond: (runs / elapsed) * 1000,
      rawWriteMs: summarize(writes).p50,
    }
    report({
      workload: 'floor',
      description: 'raw @libsql/client: insert run, claim, 3 step rows, complete (autocommit each)',
      runs,
      ms_per_run: round(result.msPerRun),
      runs_per_s: Math.round(result.runsPerSecond),
      cpu_us_per_run: Math.round((used.user + used.system) / runs),
      raw_write_p50_ms: round(result.rawWriteMs, 4),
    })
    return result
  } finally {
    bench.cleanup()
  }
}
