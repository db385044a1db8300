/**
 * `npm run soak`: the crash scenario at scale. Defaults: 2,000 runs, 200 SIGKILLs, 4 worker
 * processes on a libSQL file. Prints one JSON line of figures; exits non-zero on any violation.
 * With `--flow`, the runs are flow-control ones instead (flow.test.ts at scale): `limited`
 * runs in 4 groups of at most 2 running, plus 30 `throttled` runs (3 starts a second), each
 * process executing 3 runs at once, each kill taking a process with a body inside; the limits
 * are checked in the journal and in the database, sampled while the chaos runs.
 * With `--waits`, the runs wait instead (waits-check.ts's mix, sleep.test.ts and waits.test.ts
 * at scale): a sixth each sleep, start delayed, wait for an event, wait for a signal, invoke
 * a child, retry after a backoff; delays and late events and signals spread over 180 ms per
 * run, half the kills aimed at a wake-up; each wait is checked to have waited.
 *
 *   npm run soak -- [--runs 2000] [--kills 200] [--processes 4] [--postgres] [--flow | --waits]
 */
import { parseArgs } from 'node:util'
import { POSTGRES_URL } from '../support/postgres.js'
import {
  busyVictim,
  checkConcurrencyInJournal,
  interruptedBodies,
  maxStartsPerWindow,
  type RunningSample,
  reexecutionsWithoutKill,
  sampleRunning,
} from './flow-check.js'
import {
  type ChaosOptions,
  type ChaosResult,
  checkJournal,
  countByStatus,
  crashSeed,
  createScenario,
  openObserver,
  readJournal,
  runChaos,
  seededRandom,
} from './harness.js'
import { GROUP_LIMIT, THROTTLE_LIMIT, THROTTLE_PERIOD } from './jobs.js'
import {
  checkWaits,
  completedRuns,
  evenMix,
  killMoments,
  triggerWaits,
  type WaitsPlan,
} from './waits-check.js'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '2000' },
    kills: { type: 'string', default: '200' },
    processes: { type: 'string', default: '4' },
    postgres: { type: 'boolean', default: false },
    flow: { type: 'boolean', default: false },
    waits: { type: 'boolean', default: false },
  },
})
const runs = Number(values.runs)
const kills = Number(values.kills)
const processes = Number(values.processes)
const backend = values.postgres ? 'postgres' : 'libsql'
const flow = values.flow
const waits = values.waits
if (flow && waits) throw new Error('--flow and --waits are two soaks: run them one at a time')
// Fewer groups' worth of room (4 × 2) than the processes' slots (4 × 3): the limit binds.
const GROUPS = ['a', 'b', 'c', 'd']
const THROTTLED = 30
const PER_PROCESS = 3
const SPREAD_MS_PER_RUN = 180

const scenario = await createScenario(backend, POSTGRES_URL)
const seed = crashSeed()
try {
  let sampler: ReturnType<typeof sampleRunning> | undefined
  let sample: RunningSample | undefined
  const flowOptions: Partial<ChaosOptions> = {
    env: { DURABLY_CRASH_CONCURRENCY: String(PER_PROCESS) },
    victim: busyVictim(scenario.journalFile),
    async trigger(observer) {
      sampler = sampleRunning(scenario.location, GROUP_LIMIT)
      // Group by group, so the runs due first are of one key: the limit binds all along.
      await observer.jobs.limited.batchTrigger(
        Array.from({ length: runs }, (_, n) => ({
          group: GROUPS[Math.floor((n * GROUPS.length) / runs)]!,
          n,
        })),
      )
      await observer.jobs.throttled.batchTrigger(
        Array.from({ length: THROTTLED }, (_, n) => ({ n })),
      )
    },
  }
  const mix = evenMix(runs)
  let plan: WaitsPlan | undefined
  const moments = killMoments()
  const waitsOptions: Partial<ChaosOptions> = {
    pause: moments.pause,
    async trigger(observer) {
      // Its own stream, so the workload does not shift the kill schedule of the seed.
      plan = await triggerWaits(
        observer,
        mix,
        runs * SPREAD_MS_PER_RUN,
        seededRandom(seed ^ 0x5eed),
      )
    },
  }
  const total = flow ? runs + THROTTLED : waits ? completedRuns(mix) : runs
  let chaos: ChaosResult
  try {
    chaos = await runChaos(scenario, {
      processes,
      runs: total,
      kills,
      seed,
      // Long enough that the work outlasts the kills (a restart costs about half a second).
      stepMs: 80,
      ...(flow ? flowOptions : waits ? waitsOptions : {}),
    })
  } finally {
    sample = await sampler?.stop()
  }
  const sendFailures = (await plan?.sending) ?? []
  const observer = openObserver(scenario)
  const statuses = await countByStatus(observer)
  const entries = readJournal(scenario.journalFile)
  const violations: string[] = []
  let flowFigures = {}
  if (flow) {
    if (!sample) throw new Error('--flow: the database was never sampled')
    const limitedRuns = await observer.jobs.limited.getRuns({ limit: runs })
    const keyOfRun = new Map(limitedRuns.map((run) => [run.id, run.concurrencyKey!]))
    const journal = checkConcurrencyInJournal(entries, chaos.killedAt, keyOfRun, GROUP_LIMIT)
    const throttledRuns = await observer.jobs.throttled.getRuns({ limit: THROTTLED })
    const window = maxStartsPerWindow(
      throttledRuns.map((run) => Date.parse(run.startedAt!)),
      THROTTLE_PERIOD,
    )
    const victims = new Set(chaos.victims.map((victim) => victim.pid))
    violations.push(...journal.violations, ...sample.violations)
    violations.push(...reexecutionsWithoutKill(entries, victims))
    if (window.max > THROTTLE_LIMIT) {
      violations.push(`${window.max} first starts within ${THROTTLE_PERIOD} ms: ${window.window}`)
    }
    flowFigures = {
      bodiesCutShort: interruptedBodies(entries, chaos.killedAt, victims),
      mostInsidePerKey: journal.peaks,
      mostRunningPerKey: sample.peaks,
      samples: sample.samples,
      mostStartsPerWindow: window.max,
    }
  }
  // Each killed process held up to PER_PROCESS runs in --flow, each in at most one step.
  const verdict = checkJournal(entries, chaos.killedAt, chaos.kills * (flow ? PER_PROCESS : 1))
  let reexecutions = verdict.reexecutions
  let waitFigures = {}
  if (waits) {
    if (!plan) throw new Error('--waits: the runs were never triggered')
    const judged = await checkWaits(observer, plan, entries, chaos, verdict.reexecutions)
    violations.push(...sendFailures, ...judged.violations)
    reexecutions = judged.reexecutions
    waitFigures = {
      mix,
      killsAimedAtWakeUp: moments.aimed.count,
      waited: judged.waited,
      waitedBeforeEnd: judged.waitedBeforeEnd,
    }
  }
  await observer.destroy()
  violations.unshift(...verdict.violations)
  const ok = statuses.completed === total && violations.length === 0
  console.log(
    JSON.stringify({
      soak: flow ? 'sigkill-flow' : waits ? 'sigkill-waits' : 'sigkill',
      backend,
      processes,
      runs,
      kills: chaos.kills,
      statuses,
      stepExecutions: verdict.stepExecutions,
      reexecutions,
      ...flowFigures,
      ...waitFigures,
      violations: violations.slice(0, 20),
      seconds: Number(chaos.seconds.toFixed(1)),
      runsPerSecond: Number((total / chaos.seconds).toFixed(1)),
      seed,
      ok,
    }),
  )
  process.exitCode = ok ? 0 : 1
} finally {
  await scenario.cleanup()
}
