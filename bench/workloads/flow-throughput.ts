/**
 * Throughput under a concurrency limit: N runs of a 1-step job (batchTrigger, then a worker
 * with `concurrency: 8`) with the job's `concurrency: { limit: 8 }` against the same job
 * without a limit, time to the last completion. The limit is the worker's own concurrency, so
 * it never holds a run back: what is measured is what enforcing it costs (the slot, the
 * parking of the backlog each time the key fills, the wake-up each time a run ends).
 * Rounds alternate limited and unlimited; medians of the rounds. libSQL always; PostgreSQL
 * with `--postgres` (a schema of its own per round).
 */
import { z } from 'zod'
import { type createDurably, defineJob } from '../../src/index.js'
import { openPostgresBench } from '../postgres.js'
import { openBench } from '../setup.js'
import { median, report, round } from '../stats.js'

const WORKER_CONCURRENCY = 8
const LIMIT = 8

const unlimitedJob = defineJob({
  name: 'one-step',
  input: z.object({ n: z.number() }),
  run: async (step, { n }) => step.run('only', () => n),
})

const limitedJob = defineJob({
  name: 'one-step',
  input: z.object({ n: z.number() }),
  concurrency: { limit: LIMIT },
  run: async (step, { n }) => step.run('only', () => n),
})

type Variant = 'limited' | 'unlimited'

async function drain(durably: ReturnType<typeof createDurably>, variant: Variant, runs: number) {
  const registered = durably.register({
    job: variant === 'limited' ? limitedJob : unlimitedJob,
  })
  await registered.migrate()
  await registered.jobs.job.batchTrigger(Array.from({ length: runs }, (_, n) => ({ n })))
  let completed = 0
  const done = new Promise<void>((resolve) =>
    registered.on('run:complete', () => {
      if (++completed === runs) resolve()
    }),
  )
  const started = performance.now()
  registered.start()
  await done
  const elapsed = performance.now() - started
  return (runs / elapsed) * 1000
}

async function measure(
  backend: 'libsql' | 'postgres',
  runs: number,
  rounds: number,
  roundOf: (variant: Variant) => Promise<number>,
) {
  const results: Record<Variant, number[]> = { limited: [], unlimited: [] }
  for (let index = 0; index < rounds; index++) {
    // Alternate which goes first, so drift in the machine's load falls on both.
    const order: Variant[] = index % 2 ? ['limited', 'unlimited'] : ['unlimited', 'limited']
    for (const variant of order) results[variant].push(await roundOf(variant))
  }
  const limited = median(results.limited)
  const unlimited = median(results.unlimited)
  report({
    workload: 'flow-throughput',
    backend,
    description: `1-step runs, batchTrigger then a worker with concurrency ${WORKER_CONCURRENCY}, until the last completes: the job with concurrency { limit: ${LIMIT} } and without; medians of alternating rounds`,
    runs,
    rounds,
    limited_runs_per_s: Math.round(limited),
    unlimited_runs_per_s: Math.round(unlimited),
    limited_rounds: results.limited.map((value) => Math.round(value)),
    unlimited_rounds: results.unlimited.map((value) => Math.round(value)),
    ratio_to_unlimited: round(limited / unlimited, 2),
  })
}

export async function flowThroughput(
  runs: number,
  rounds: number,
  postgres: boolean,
): Promise<void> {
  await measure('libsql', runs, rounds, async (variant) => {
    const bench = await openBench()
    try {
      const durably = bench.open({ concurrency: WORKER_CONCURRENCY })
      try {
        return await drain(durably, variant, runs)
      } finally {
        await durably.destroy()
      }
    } finally {
      bench.cleanup()
    }
  })
  if (!postgres) {
    console.error('[bench] flow-throughput: PostgreSQL part skipped (add --postgres)')
    return
  }
  const server = await openPostgresBench('flow-throughput')
  if (!server) return
  try {
    await measure('postgres', runs, rounds, async (variant) => {
      const { durably, close } = await server.open({ concurrency: WORKER_CONCURRENCY })
      try {
        return await drain(durably, variant, runs)
      } finally {
        await close()
      }
    })
  } finally {
    await server.end()
  }
}
