/**
 * The throughput workloads on PostgreSQL (`--postgres`): the raw floor (the same writes by
 * hand with `pg`, one autocommit each: insert a run, claim it, 3 step rows, complete it), then
 * 3-step runs batch-triggered and drained, one run of many steps, and runs triggered one
 * `await trigger()` at a time (with `listen` off and on). Each durably round counts the
 * statements its pool sent, and the claims among them, per run. Rounds alternate; medians.
 */
import type { createDurably } from '../../src/index.js'
import { openPostgresBench, type PostgresBench } from '../postgres.js'
import { manyStepsJob, threeStepJob } from '../setup.js'
import { median, report, round } from '../stats.js'

type Durably = ReturnType<typeof createDurably>

async function floorRound(server: PostgresBench, runs: number) {
  const { durably, raw, close } = await server.open()
  try {
    await durably.migrate()
    const writes: number[] = []
    const started = performance.now()
    for (let n = 0; n < runs; n++) {
      const id = `floor-${n.toString().padStart(8, '0')}`
      const now = new Date().toISOString()
      await raw(
        `INSERT INTO durably_runs (id, job_name, payload, status, lease_generation, created_at, updated_at, available_at)
         VALUES ($1, 'three-steps', $2, 'pending', 0, $3, $3, $3)`,
        [id, `{"n":${n}}`, now],
      )
      await raw(
        `UPDATE durably_runs SET status = 'running', lease_owner = 'floor',
         lease_generation = lease_generation + 1, heartbeat_at = $1, started_at = $1, updated_at = $1
         WHERE id = $2`,
        [now, id],
      )
      for (let step = 0; step < 3; step++) {
        const before = performance.now()
        await raw(
          `INSERT INTO durably_steps (id, run_id, name, step_index, status, output, started_at, completed_at)
           VALUES ($1, $2, $3, $4, 'completed', $5, $6, $6)`,
          [`${id}-${step}`, id, String(step), step, String(n + step), now],
        )
        writes.push(performance.now() - before)
      }
      await raw(
        `UPDATE durably_runs SET status = 'completed', output = $1, lease_owner = NULL,
         completed_at = $2, updated_at = $2 WHERE id = $3`,
        [String(n + 3), now, id],
      )
    }
    const elapsed = performance.now() - started
    return { runsPerSecond: (runs / elapsed) * 1000, rawWriteMs: median(writes) }
  } finally {
    await close()
  }
}

/** Runs until `runs` completions, counting statements (and claims) sent meanwhile. */
async function drainRound(
  server: PostgresBench,
  runs: number,
  listen: boolean,
  feed: (durably: Durably) => Promise<void>,
  job = threeStepJob,
) {
  const { durably, counts, close } = await server.open({}, { listen })
  try {
    const registered = durably.register({ job })
    await registered.migrate()
    let completed = 0
    const done = new Promise<void>((resolve) =>
      registered.on('run:complete', () => {
        if (++completed === runs) resolve()
      }),
    )
    counts.statements = 0
    counts.claims = 0
    const cpu = process.cpuUsage()
    const started = performance.now()
    await feed(registered as unknown as Durably)
    await done
    const elapsed = performance.now() - started
    const used = process.cpuUsage(cpu)
    return {
      runsPerSecond: (runs / elapsed) * 1000,
      elapsed,
      cpu: (used.user + used.system) / runs,
      statements: counts.statements / runs,
      claims: counts.claims / runs,
    }
  } finally {
    await close()
  }
}

type Registered = Durably & {
  jobs: {
    job: {
      trigger(input: unknown): Promise<unknown>
      triggerAndWait(input: unknown): Promise<unknown>
      batchTrigger(inputs: unknown[]): Promise<unknown>
    }
  }
}

const DESCRIPTIONS: Record<string, string> = {
  throughput:
    '3-step runs, batchTrigger then worker with defaults, until the last completes; medians',
  trigger:
    '3-step runs, one await trigger() at a time, worker started, until the last completes; medians',
  latency:
    '3-step runs, one await triggerAndWait() at a time, idle worker in this process; medians',
}

export async function postgresRuns(
  sizes: { runs: number; steps: number; rounds: number },
  wants: (name: string) => boolean,
): Promise<void> {
  const server = await openPostgresBench('runs')
  if (!server) return
  try {
    const { runs, steps, rounds } = sizes
    const latencyRuns = Math.min(runs, 200)
    const floors: number[] = []
    const rawWrites: number[] = []
    const series: Record<
      string,
      { rps: number[]; cpu: number[]; statements: number[]; claims: number[] }
    > = {}
    const add = (name: string, result: Awaited<ReturnType<typeof drainRound>>) => {
      series[name] ??= { rps: [], cpu: [], statements: [], claims: [] }
      series[name].rps.push(result.runsPerSecond)
      series[name].cpu.push(result.cpu)
      series[name].statements.push(result.statements)
      series[name].claims.push(result.claims)
    }
    const batch = async (durably: Durably) => {
      await (durably as Registered).jobs.job.batchTrigger(
        Array.from({ length: runs }, (_, n) => ({ n })),
      )
      durably.start()
    }
    const oneByOne = async (durably: Durably) => {
      durably.start()
      for (let n = 0; n < runs; n++) await (durably as Registered).jobs.job.trigger({ n })
    }
    const waitEach = async (durably: Durably) => {
      durably.start()
      for (let n = 0; n < latencyRuns; n++)
        await (durably as Registered).jobs.job.triggerAndWait({ n })
    }
    for (let round_ = 0; round_ < rounds; round_++) {
      const floor = await floorRound(server, runs)
      floors.push(floor.runsPerSecond)
      rawWrites.push(floor.rawWriteMs)
      if (wants('throughput')) add('throughput', await drainRound(server, runs, false, batch))
      if (wants('trigger')) {
        add('trigger', await drainRound(server, runs, false, oneByOne))
        add('trigger-listen', await drainRound(server, runs, true, oneByOne))
      }
      if (wants('latency')) {
        add('latency', await drainRound(server, latencyRuns, false, waitEach))
        add('latency-listen', await drainRound(server, latencyRuns, true, waitEach))
      }
      if (wants('per-step')) {
        const result = await drainRound(
          server,
          1,
          false,
          async (durably) => {
            await (durably as Registered).jobs.job.trigger({})
            durably.start()
          },
          manyStepsJob(steps) as unknown as typeof threeStepJob,
        )
        add('per-step', { ...result, runsPerSecond: result.elapsed / steps })
      }
    }
    const floor = median(floors)
    const rawWriteMs = median(rawWrites)
    report({
      workload: 'floor',
      backend: 'postgres',
      description: 'raw pg: insert run, claim, 3 step rows, complete (autocommit each); medians',
      runs,
      rounds,
      runs_per_s: Math.round(floor),
      raw_write_p50_ms: round(rawWriteMs, 4),
    })
    for (const [name, values] of Object.entries(series)) {
      if (name === 'per-step') {
        const ms = median(values.rps)
        report({
          workload: 'per-step',
          backend: 'postgres',
          description: `one run of ${steps} steps, trigger to completion; medians`,
          steps,
          ms_per_step: round(ms, 4),
          raw_write_ms: round(rawWriteMs, 4),
          ratio_to_raw_write: round(ms / rawWriteMs, 2),
          cpu_us_per_step: Math.round(median(values.cpu) / steps),
          statements_per_step: round(median(values.statements) / steps, 2),
        })
        continue
      }
      const rps = median(values.rps)
      const [workload, listen] = name.split('-') as [string, string | undefined]
      report({
        workload,
        backend: 'postgres',
        ...(workload !== 'throughput' ? { listen: listen !== undefined } : {}),
        description: DESCRIPTIONS[workload],
        runs: workload === 'latency' ? latencyRuns : runs,
        ...(workload === 'latency' ? { ms_per_run: round(1000 / rps) } : {}),
        rounds,
        runs_per_s: Math.round(rps),
        rounds_runs_per_s: values.rps.map((value) => Math.round(value)),
        floor_runs_per_s: Math.round(floor),
        ratio_to_floor: round(rps / floor, 2),
        cpu_us_per_run: Math.round(median(values.cpu)),
        statements_per_run: round(median(values.statements), 2),
        claims_per_run: round(median(values.claims), 2),
      })
    }
  } finally {
    await server.end()
  }
}
