/**
 * `npm run demo`: the point of durably in thirty seconds.
 * 1. A worker process starts a six-step job on a libSQL file.
 * 2. Halfway through, the process is killed with SIGKILL (no cleanup, no goodbye).
 * 3. A new process starts on the same file, reclaims the abandoned run once its lease has
 *    expired, replays the finished steps from the database and executes only the rest.
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

function startWorker(onLine: (line: string) => void): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', workerScript, file], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let buffer = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString()
    const lines = buffer.split('\n')
    buffer = lines.pop() ?? ''
    for (const line of lines) {
      console.log(line)
      onLine(line)
    }
  })
  return child
}

console.log(`durably demo — database: ${file}\n`)
console.log('▶ starting worker process #1')
const first = startWorker((line) => {
  if (line.includes('progress 3/6')) {
    console.log('\n💥 SIGKILL to worker process #1 in the middle of the job\n')
    first.kill('SIGKILL')
  }
})
await new Promise((resolve) => first.once('exit', resolve))

console.log(
  "▶ starting worker process #2 (it waits for the dead worker's lease to expire: staleThreshold = 2 s)",
)
const second = startWorker(() => {})
const code = await new Promise<number | null>((resolve) => second.once('exit', resolve))
if (code !== 0) throw new Error(`worker process #2 exited with ${code}`)

const client = createClient({ url: `file:${file}` })
const steps = await client.execute(
  "SELECT step_index, name, output FROM durably_steps WHERE status = 'completed' ORDER BY step_index",
)
console.log('\nRecorded steps (each executed exactly once):')
for (const row of steps.rows) {
  const { executedBy } = JSON.parse(String(row.output)) as { executedBy: number }
  console.log(
    `  ${Number(row.step_index) + 1}. ${String(row.name).padEnd(10)} executed by pid ${executedBy}`,
  )
}
const pids = new Set(
  steps.rows.map((row) => (JSON.parse(String(row.output)) as { executedBy: number }).executedBy),
)
console.log(
  `\n${steps.rows.length} steps, ${pids.size} processes: the steps process #1 finished were replayed from the database,` +
    '\nnot re-run. Only the step that was mid-flight when the kill landed ran again (at-least-once for an interrupted step).',
)
client.close()
