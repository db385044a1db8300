/**
 * `npm run bench`: one JSON line per workload on stdout (progress notes on stderr).
 *
 *   npm run bench                       every workload at full size (about ten minutes here)
 *   npm run bench -- --quick            every workload, small (under a minute)
 *   npm run bench -- latency claim      only the named workloads
 *   npm run bench -- wake-lateness claim-sleeping   the time workloads (durable sleep)
 *   npm run bench -- event-wake                     sendEvent → resumed, beside waiting runs
 *   npm run bench -- purge                          claims while 1M finished runs are purged
 *   npm run bench -- flow-claim flow-throughput     concurrency limits: claims beside a backlog
 *                                                   behind full keys, throughput under a limit
 *   npm run bench -- trigger                        runs triggered one await at a time, worker on
 *   npm run bench -- sqlite-database                throughput on better-sqlite3 and libSQL's Database
 *                                                   through SqliteDialect, with and without
 *                                                   cacheStatements, against their own floors
 *   … --postgres                                    the flow workloads on PostgreSQL too, and
 *                                                   throughput, per-step and trigger against a raw
 *                                                   pg floor (alternating rounds, statements per run)
 *
 * Library defaults throughout (libSQL file, WAL, synchronous NORMAL, concurrency 1) unless a
 * workload says otherwise. Figures are machine-dependent: compare ratios to the floor.
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { batchTrigger } from './workloads/batch-trigger.js'
import { claimLatency } from './workloads/claim.js'
import { claimSleeping } from './workloads/claim-sleeping.js'
import { concurrency } from './workloads/concurrency.js'
import { eventWake } from './workloads/event-wake.js'
import { floor } from './workloads/floor.js'
import { flowClaim } from './workloads/flow-claim.js'
import { flowThroughput } from './workloads/flow-throughput.js'
import { latency } from './workloads/latency.js'
import { memory } from './workloads/memory.js'
import { perStep } from './workloads/per-step.js'
import { postgresRuns } from './workloads/postgres-runs.js'
import { purge } from './workloads/purge.js'
import { sqliteDatabaseThroughput } from './workloads/sqlite-database.js'
import { throughput } from './workloads/throughput.js'
import { triggerLoop } from './workloads/trigger.js'
import { wakeLateness } from './workloads/wake-lateness.js'

const args = process.argv.slice(2)
const quick = args.includes('--quick') || process.env.BENCH_QUICK === '1'
const postgres = args.includes('--postgres')
const selected = args.filter((arg) => !arg.startsWith('--'))
const wants = (name: string) => selected.length === 0 || selected.includes(name)

const size = quick
  ? {
      runs: 300,
      samples: 100,
      steps: 300,
      tables: [1_000, 10_000],
      claims: 50,
      batch: 2_000,
      io: 40,
      memory: 10_000,
      sleepers: 200,
      waiting: [0, 1_000],
      wakeSamples: 50,
      sleeping: [1_000, 10_000],
      postgresSleeping: [1_000, 10_000],
      finished: 20_000,
      blocked: [1_000, 10_000],
      flowRuns: 300,
    }
  : {
      runs: 2_000,
      samples: 500,
      steps: 2_000,
      tables: [1_000, 100_000, 1_000_000],
      claims: 200,
      batch: 10_000,
      io: 200,
      memory: 100_000,
      sleepers: 1_000,
      waiting: [0, 10_000],
      wakeSamples: 200,
      sleeping: [1_000, 100_000, 1_000_000],
      postgresSleeping: [1_000, 100_000, 1_000_000],
      finished: 1_000_000,
      blocked: [1_000, 100_000],
      flowRuns: 2_000,
    }

const note = (text: string) => console.error(`[bench] ${text}`)

// Every ratio is against the floor, so it runs first whatever was selected.
note('floor')
const measuredFloor = await floor(size.runs)
if (wants('throughput')) {
  note('throughput')
  await throughput(size.runs, measuredFloor)
}
if (wants('trigger')) {
  note('trigger')
  await triggerLoop(size.runs, measuredFloor)
}
if (wants('sqlite-database')) {
  note('sqlite-database')
  await sqliteDatabaseThroughput(size.runs, 3)
}
if (postgres && ['throughput', 'trigger', 'per-step', 'latency'].some(wants)) {
  note('throughput, trigger, per-step, latency on PostgreSQL (skipped when unreachable)')
  await postgresRuns({ runs: size.runs, steps: size.steps, rounds: 3 }, wants)
}
if (wants('latency')) {
  note('latency')
  await latency(size.samples)
}
if (wants('per-step')) {
  note('per-step')
  await perStep(size.steps, measuredFloor)
}
if (wants('claim')) {
  note('claim')
  await claimLatency(size.tables, size.claims)
}
if (wants('claim-sleeping')) {
  note('claim-sleeping (PostgreSQL part skipped when unreachable)')
  await claimSleeping(size.sleeping, size.claims, size.postgresSleeping)
}
if (wants('wake-lateness')) {
  note('wake-lateness')
  await wakeLateness(size.sleepers, 1)
  await wakeLateness(size.sleepers, 8)
}
if (wants('event-wake')) {
  note('event-wake')
  await eventWake(size.waiting, size.wakeSamples)
}
if (wants('purge')) {
  note('purge')
  await purge(size.finished, size.samples)
}
if (wants('flow-claim')) {
  note('flow-claim')
  await flowClaim(size.blocked, size.claims, postgres)
}
if (wants('flow-throughput')) {
  note('flow-throughput')
  await flowThroughput(size.flowRuns, 3, postgres)
}
if (wants('batch-trigger')) {
  note('batch-trigger')
  await batchTrigger(size.batch)
}
if (wants('concurrency')) {
  note('concurrency')
  await concurrency(size.io)
}
if (wants('memory')) {
  note('memory')
  await memory(size.memory)
}
if (wants('postgres-wakeup')) {
  note('postgres-wakeup (skipped when PostgreSQL is unreachable)')
  // Its own process: it spawns a second one and measures between the two.
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'postgres-wakeup.ts'), String(quick ? 50 : 300)],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  )
  if (result.status !== 0) process.exitCode = 1
}
