/**
 * `npm run demo`: the point of durably in thirty seconds.
 * 1. A worker process starts a six-step job on a libSQL file.
 * 2. Halfway through, the process is killed with SIGKILL (no cleanup, no goodbye).
 * 3. A new process starts on the same file, reclaims the abandoned run once its lease has
 *    expired, replays the finished steps from the database and executes only the rest.
 * At the end it prints which process executed each recorded step, and whether the step that
 * was in flight when the kill landed ran a second time.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { createClient } from '@libsql/client'

const dir = join(process.cwd(), '.tmp', 'demo')
rmSync(dir, { recursive: true, force: true })
mkdirSync(dir, { recursive: true })
const file = join(dir, 'demo.db')
const workerScript = join(import.meta.dirname, 'worker.ts')

/** Step names each worker process started executing, from its `executing step` lines. */
const started = [new Set<string>(), new Set<string>()]

function startWorker(index: number, onLine: (line: string) => void): ChildProcess {
  // The worker starts in its own directory, so tsx reads the tsconfig.json there (inside this
  // repository examples/tsconfig.json maps `durably` to ../src).
  const child = spawn(process.execPath, ['--import', 'tsx', workerScript, file], {
    cwd: import.meta.dirname,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let buffer = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString()
    const lines = buffer.split('\n')
    buffer = lines.pop() ?? ''
    for (const line of lines) {
      console.log(line)
      const executing = line.match(/executing step \d+\/\d+: (\S+)/)
      if (executing) started[index]!.add(executing[1]!)
      onLine(line)
    }
  })
  return child
}

console.log(`durably demo — database: ${file}\n`)
console.log('▶ starting worker process #1')
const first = startWorker(0, (line) => {
  if (line.includes('progress 3/6')) {
    console.log('\n💥 SIGKILL to worker process #1 in the middle of the job\n')
    first.kill('SIGKILL')
  }
})
await new Promise((resolve) => first.once('exit', resolve))

console.log(
  "▶ starting worker process #2 (it waits for the dead worker's lease to expire: staleThreshold = 2 s)",
)
const second = startWorker(1, () => {})
const code = await new Promise<number | null>((resolve) => second.once('exit', resolve))
if (code !== 0) throw new Error(`worker process #2 exited with ${code}`)

const client = createClient({ url: `file:${file}` })
const steps = await client.execute(
  "SELECT step_index, name, output FROM durably_steps WHERE status = 'completed' ORDER BY step_index",
)
console.log('\nRecorded steps:')
for (const row of steps.rows) {
  const { executedBy } = JSON.parse(String(row.output)) as { executedBy: number }
  console.log(
    `  ${Number(row.step_index) + 1}. ${String(row.name).padEnd(10)} executed by pid ${executedBy}`,
  )
}
const ranTwice = [...started[0]!].filter((name) => started[1]!.has(name))
const replayed = steps.rows.filter(
  (row) => started[0]!.has(String(row.name)) && !ranTwice.includes(String(row.name)),
)
console.log(
  `\n${steps.rows.length} steps recorded. Process #2 replayed the ${replayed.length} step(s) process #1 had finished` +
    '\nfrom the database, without running them again.',
)
console.log(
  ranTwice.length === 0
    ? 'No step ran twice: the kill landed between two steps.'
    : `Step ${ranTwice.map((name) => `"${name}"`).join(', ')} ran in both processes: it was in flight when the kill` +
        '\nlanded, so its result was never stored and process #2 ran it again (a step is at-least-once;' +
        '\nonly finished steps are exactly-once).',
)
client.close()
