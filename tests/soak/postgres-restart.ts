/**
 * PostgreSQL restarts under load and loses no run. One worker process (concurrency 4) drains
 * runs while this script restarts the server (`pg_ctlcluster <version> <cluster> restart`)
 * and keeps triggering through the outage, retrying triggers the database refused. Ends with
 * one JSON line; exits non-zero if a run was lost or did not complete.
 *
 *   npm run soak:postgres-restart -- [runs] [restarts]
 *
 * It restarts the whole server: run it on a machine of your own, not beside other tests.
 */
import { execFileSync } from 'node:child_process'
import { PostgresDialect } from 'kysely'
import pg from 'pg'
import { z } from 'zod'
import { createDurably, DatabaseError, defineJob } from '../../src/index.js'

const URL = process.env.DURABLY_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const CLUSTER = (process.env.DURABLY_PG_CLUSTER ?? '15 main').split(' ')
const runs = Number(process.argv[2] ?? 600)
const restarts = Number(process.argv[3] ?? 2)

const executions = new Map<string, number>()
const workJob = defineJob({
  name: 'work',
  input: z.object({ n: z.number() }),
  run: async (step, { n }) => {
    let total = n
    for (const name of ['a', 'b', 'c']) {
      total = await step.run(name, async () => {
        executions.set(`${step.runId}:${name}`, (executions.get(`${step.runId}:${name}`) ?? 0) + 1)
        await new Promise((resolve) => setTimeout(resolve, 5))
        return total + 1
      })
    }
    return total
  },
})

const schema = `durably_soak_${Date.now().toString(36)}`
const admin = new pg.Client({ connectionString: URL })
await admin.connect()
await admin.query(`CREATE SCHEMA ${schema}`)
await admin.end()

const pool = new pg.Pool({ connectionString: URL, options: `-c search_path=${schema}`, max: 8 })
pool.on('error', () => {})
const durably = createDurably({
  dialect: new PostgresDialect({ pool }),
  listen: pool,
  pollingInterval: 200,
  heartbeatInterval: 200,
  staleThreshold: 3000,
  concurrency: 4,
}).register({ work: workJob })
let workerErrors = 0
durably.on('worker:error', () => {
  workerErrors += 1
})
await durably.init()

const started = performance.now()
const ids: string[] = []
let refusedTriggers = 0
async function triggerPatiently(n: number) {
  for (;;) {
    try {
      ids.push((await durably.jobs.work.trigger({ n })).id)
      return
    } catch (error) {
      if (!(error instanceof DatabaseError)) throw error
      refusedTriggers += 1
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

const producer = (async () => {
  for (let n = 0; n < runs; n++) {
    await triggerPatiently(n)
    if (n % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 20))
  }
})()

for (let restart = 1; restart <= restarts; restart++) {
  await waitFor(() => completedCount() >= (runs * restart) / (restarts + 1), 120_000)
  console.error(
    `restarting PostgreSQL (${restart}/${restarts}) after ${completedCount()} completions`,
  )
  execFileSync('pg_ctlcluster', [...CLUSTER, 'restart', '-m', 'fast'], { stdio: 'inherit' })
}
await producer

let statuses: Record<string, number> = {}
await waitFor(async () => {
  try {
    const rows = await durably.jobs.work.getRuns({ limit: runs + 10 })
    statuses = {}
    for (const run of rows) statuses[run.status] = (statuses[run.status] ?? 0) + 1
    return statuses.completed === runs
  } catch {
    return false
  }
}, 180_000).catch(() => undefined)
const seconds = (performance.now() - started) / 1000
const reexecuted = [...executions.values()].filter((count) => count > 1).length
await durably.destroy()
const cleanup = new pg.Client({ connectionString: URL })
await cleanup.connect()
await cleanup.query(`DROP SCHEMA ${schema} CASCADE`)
await cleanup.end()

const ok = statuses.completed === runs && ids.length === runs
console.log(
  JSON.stringify({
    soak: 'postgres-restart',
    runs,
    restarts,
    triggered: ids.length,
    statuses,
    refusedTriggers,
    workerErrors,
    reexecutedSteps: reexecuted,
    seconds: Number(seconds.toFixed(1)),
    ok,
  }),
)
process.exit(ok ? 0 : 1)

function completedCount() {
  return [...executions.keys()].filter((key) => key.endsWith(':c')).length
}

async function waitFor(probe: () => boolean | Promise<boolean>, timeout: number) {
  const deadline = Date.now() + timeout
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
