/**
 * A worker process of the crash suite: `node --import tsx tests/crash/worker-process.ts`.
 * Configured by environment: DURABLY_CRASH_DB (a DatabaseLocation as JSON),
 * DURABLY_CRASH_JOURNAL (journal file), DURABLY_CRASH_MODE (`work`, or `trigger-idempotent`
 * which triggers one keyed run when a line arrives on stdin and prints its id),
 * DURABLY_CRASH_CRON (`1`: also register the one-second cron job) and
 * DURABLY_CRASH_CONCURRENCY (runs one process executes at once, default 1),
 * DURABLY_CRASH_HEARTBEAT_MS (default 100, against a stale threshold of 1 s),
 * DURABLY_CRASH_KILL_ON (`step:retry`: SIGKILL itself as that event is emitted), and a wrong
 * clock if asked (wrong-clock.ts).
 * Prints `ready` once it is working.
 */
import './wrong-clock.js'
import { createInterface } from 'node:readline'
import { createDurably } from '../../src/index.js'
import { type DatabaseLocation, openDialect } from './database.js'
import { crashJobs, cronJobs } from './jobs.js'
import { openJournal } from './journal.js'

const location = JSON.parse(process.env.DURABLY_CRASH_DB ?? '') as DatabaseLocation
const journal = openJournal(process.env.DURABLY_CRASH_JOURNAL ?? '')
const mode = process.env.DURABLY_CRASH_MODE ?? 'work'
const stepMs = Number(process.env.DURABLY_CRASH_STEP_MS ?? 5)
const randomStepMs = () => stepMs * (0.5 + Math.random())

const durably = createDurably({
  dialect: openDialect(location),
  pollingInterval: 50,
  heartbeatInterval: Number(process.env.DURABLY_CRASH_HEARTBEAT_MS ?? 100),
  staleThreshold: 1000,
  // Above 1, one process alone can exceed a job's concurrency limit unless the claim holds it.
  concurrency: Number(process.env.DURABLY_CRASH_CONCURRENCY ?? 1),
}).register({
  ...crashJobs(journal, randomStepMs),
  ...(process.env.DURABLY_CRASH_CRON === '1' ? cronJobs(journal, randomStepMs) : {}),
})

// The process dies the moment this event is emitted, to test what a crash right there leaves.
const killOn = process.env.DURABLY_CRASH_KILL_ON
if (killOn === 'step:retry') durably.on(killOn, () => process.kill(process.pid, 'SIGKILL'))

durably.on('step:complete', (event) =>
  journal.write({ ev: 'step-committed', run: event.runId, step: event.stepName }),
)
durably.on('run:complete', (event) => journal.write({ ev: 'run-complete', run: event.runId }))

if (mode === 'trigger-idempotent') {
  await durably.migrate()
  console.log('ready')
  for await (const line of createInterface({ input: process.stdin })) {
    const run = await durably.jobs.work.trigger({ n: 0 }, { idempotencyKey: line.trim() })
    console.log(`run ${run.id}`)
  }
  await durably.destroy()
} else {
  await durably.init()
  console.log('ready')
  process.once('SIGTERM', () => {
    void durably.destroy().then(() => process.exit(0))
  })
}
