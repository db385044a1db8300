/**
 * `npm run soak`: the crash scenario at scale. Defaults: 2,000 runs, 200 SIGKILLs, 4 worker
 * processes on a libSQL file. Prints one JSON line of figures; exits non-zero on any violation.
 *
 *   npm run soak -- [--runs 2000] [--kills 200] [--processes 4] [--postgres]
 */
import { parseArgs } from 'node:util'
import { POSTGRES_URL } from '../support/postgres.js'
import {
  checkJournal,
  countByStatus,
  crashSeed,
  createScenario,
  openObserver,
  readJournal,
  runChaos,
} from './harness.js'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '2000' },
    kills: { type: 'string', default: '200' },
    processes: { type: 'string', default: '4' },
    postgres: { type: 'boolean', default: false },
  },
})
const runs = Number(values.runs)
const kills = Number(values.kills)
const processes = Number(values.processes)
const backend = values.postgres ? 'postgres' : 'libsql'

const scenario = await createScenario(backend, POSTGRES_URL)
const seed = crashSeed()
try {
  // Long enough that the work outlasts the kills (a restart costs about half a second).
  const chaos = await runChaos(scenario, { processes, runs, kills, seed, stepMs: 80 })
  const observer = openObserver(scenario)
  const statuses = await countByStatus(observer)
  await observer.destroy()
  const verdict = checkJournal(readJournal(scenario.journalFile), chaos.killedAt, chaos.kills)
  const ok = statuses.completed === runs && verdict.violations.length === 0
  console.log(
    JSON.stringify({
      soak: 'sigkill',
      backend,
      processes,
      runs,
      kills: chaos.kills,
      statuses,
      stepExecutions: verdict.stepExecutions,
      reexecutions: verdict.reexecutions,
      violations: verdict.violations.slice(0, 20),
      seconds: Number(chaos.seconds.toFixed(1)),
      runsPerSecond: Number((runs / chaos.seconds).toFixed(1)),
      seed,
      ok,
    }),
  )
  process.exitCode = ok ? 0 : 1
} finally {
  await scenario.cleanup()
}
