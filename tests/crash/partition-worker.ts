/**
 * A worker process of the partition scenarios: `node --import tsx tests/crash/partition-worker.ts`.
 * Configured by environment: DURABLY_CRASH_DB (a PostgreSQL DatabaseLocation as JSON: its url
 * may point at a proxy), DURABLY_CRASH_JOURNAL (the journal file), DURABLY_PARTITION_EVENTS (a
 * file for what the worker saw: `run-start` and `worker-error` lines), DURABLY_PARTITION_POOL
 * (more `pg.Pool` options, as JSON), DURABLY_PARTITION_LISTEN (`1`: pass the pool as
 * `listen`), DURABLY_PARTITION_POLLING (a `pollingInterval` in ms) and
 * DURABLY_CRASH_CONCURRENCY. Prints `ready` once it is working.
 */
import { appendFileSync } from 'node:fs'
import { PostgresDialect } from 'kysely'
import pg from 'pg'
import { createDurably } from '../../src/index.js'
import type { DatabaseLocation } from './database.js'
import { openJournal, wallClock } from './journal.js'
import { PARTITION_OPTIONS, partitionJobs } from './partition-jobs.js'

const location = JSON.parse(process.env.DURABLY_CRASH_DB ?? '') as DatabaseLocation
if (location.backend !== 'postgres') throw new Error('partition-worker: PostgreSQL only')
const journal = openJournal(process.env.DURABLY_CRASH_JOURNAL ?? '')
const eventsFile = process.env.DURABLY_PARTITION_EVENTS ?? ''
const note = (entry: Record<string, unknown>) =>
  appendFileSync(eventsFile, `${JSON.stringify({ ...entry, pid: process.pid, t: wallClock() })}\n`)

const pool = new pg.Pool({
  connectionString: location.url,
  options: `-c search_path=${location.schema}`,
  max: 5,
  ...(JSON.parse(process.env.DURABLY_PARTITION_POOL ?? '{}') as pg.PoolConfig),
})
// A connection dropped while idle is reported here; the next statement gets a fresh one.
pool.on('error', () => {})

const durably = createDurably({
  dialect: new PostgresDialect({ pool }),
  ...(process.env.DURABLY_PARTITION_LISTEN === '1' ? { listen: pool } : {}),
  ...PARTITION_OPTIONS,
  ...(process.env.DURABLY_PARTITION_POLLING
    ? { pollingInterval: Number(process.env.DURABLY_PARTITION_POLLING) }
    : {}),
  concurrency: Number(process.env.DURABLY_CRASH_CONCURRENCY ?? 1),
}).register(partitionJobs(journal, note))

durably.on('run:start', (event) => note({ ev: 'run-start', run: event.runId }))
durably.on('worker:error', (event) =>
  note({ ev: 'worker-error', context: event.context, run: event.runId, message: event.error }),
)
durably.on('step:complete', (event) =>
  journal.write({ ev: 'step-committed', run: event.runId, step: event.stepName }),
)
durably.on('run:complete', (event) => journal.write({ ev: 'run-complete', run: event.runId }))

await durably.init()
console.log('ready')
