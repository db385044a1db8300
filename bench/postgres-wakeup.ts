/**
 * Trigger→start latency between two processes on PostgreSQL: this process triggers, a child
 * process with an idle worker (polling every 60 s, so only LISTEN/NOTIFY can wake it) starts
 * the run; once with the worker at its defaults (listening on a shared pooled connection),
 * once with `listen: pool` (a connection of its own). Prints one JSON line each. Skipped with
 * a line on stderr when PostgreSQL is unreachable.
 *
 *   npx tsx bench/postgres-wakeup.ts [samples]
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { PostgresDialect } from 'kysely'
import pg from 'pg'
import { z } from 'zod'
import { createDurably, defineJob } from '../src/index.js'

const URL = process.env.DURABLY_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const pingJob = defineJob({
  name: 'ping',
  input: z.object({ sentAt: z.number() }),
  run: async () => null,
})

type Listening = 'defaults' | 'pool'

function open(schema: string, listening: Listening) {
  const pool = new pg.Pool({ connectionString: URL, options: `-c search_path=${schema}`, max: 4 })
  return createDurably({
    dialect: new PostgresDialect({ pool }),
    ...(listening === 'pool' ? { listen: pool } : {}),
    pollingInterval: 60_000,
  }).register({ ping: pingJob })
}

const wallClock = () => performance.timeOrigin + performance.now()

if (process.argv[2] === '--worker') {
  const durably = open(process.argv[3]!, process.argv[4] as Listening)
  durably.on('run:start', (event) => {
    console.log(JSON.stringify({ runId: event.runId, startedAt: wallClock() }))
  })
  await durably.init()
  console.log('ready')
  process.stdin.on('end', () => void durably.destroy().then(() => process.exit(0)))
  process.stdin.resume()
} else {
  for (const listening of ['defaults', 'pool'] as const) {
    if (!(await main(Number(process.argv[2] ?? 300), listening))) break
  }
}

/** False when PostgreSQL is unreachable (said once on stderr). */
async function main(samples: number, listening: Listening): Promise<boolean> {
  const admin = new pg.Client({ connectionString: URL, connectionTimeoutMillis: 3000 })
  try {
    await admin.connect()
  } catch (error) {
    console.error(
      `postgres-wakeup: skipped, PostgreSQL unreachable at ${URL} (${(error as Error).message})`,
    )
    return false
  }
  const schema = `durably_bench_${Date.now().toString(36)}`
  await admin.query(`CREATE SCHEMA ${schema}`)
  const producer = open(schema, 'defaults')
  await producer.migrate()
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', import.meta.filename, '--worker', schema, listening],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  )
  const lines = createInterface({ input: child.stdout! })
  // A start can be reported before the trigger call returns: keep both sides in one map.
  const starts = new Map<string, number>()
  const waiting = new Map<string, (startedAt: number) => void>()
  const startOf = (runId: string) =>
    new Promise<number>((resolve) => {
      const startedAt = starts.get(runId)
      if (startedAt !== undefined) resolve(startedAt)
      else waiting.set(runId, resolve)
    })
  let ready!: () => void
  const isReady = new Promise<void>((resolve) => {
    ready = resolve
  })
  lines.on('line', (line) => {
    if (line === 'ready') return ready()
    const { runId, startedAt } = JSON.parse(line) as { runId: string; startedAt: number }
    starts.set(runId, startedAt)
    waiting.get(runId)?.(startedAt)
  })
  await isReady
  const latencies: number[] = []
  for (let index = 0; index < samples + 20; index++) {
    const sentAt = wallClock()
    const run = await producer.jobs.ping.trigger({ sentAt })
    const startedAt = await startOf(run.id)
    if (index >= 20) latencies.push(startedAt - sentAt)
  }
  child.stdin!.end()
  await new Promise((resolve) => child.once('exit', resolve))
  await producer.destroy()
  await admin.query(`DROP SCHEMA ${schema} CASCADE`)
  await admin.end()
  latencies.sort((a, b) => a - b)
  const at = (q: number) =>
    Number(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(2))
  console.log(
    JSON.stringify({
      workload: 'postgres-wakeup',
      description: 'trigger in one process -> run:start in another (idle worker, polling 60 s)',
      listen: listening === 'pool' ? 'listen: pool' : 'defaults',
      samples: latencies.length,
      p50_ms: at(0.5),
      p95_ms: at(0.95),
      p99_ms: at(0.99),
    }),
  )
  return true
}
