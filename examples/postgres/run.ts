/**
 * Scaling out: three worker processes share one PostgreSQL database. This process only
 * triggers work; the runs spread over the workers through `FOR UPDATE SKIP LOCKED` claims,
 * and an idempotency key makes a repeated trigger return the run that already exists.
 *
 *   cd examples/postgres && npx tsx run.ts   (DATABASE_URL defaults to the local test database)
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { ensureSchema, openDurably } from './durably.js'

await ensureSchema()
const { durably } = openDurably()
await durably.migrate()

const workers: ChildProcess[] = []
for (let index = 0; index < 3; index++) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'worker.ts')],
    {
      // In its own directory, tsx reads the tsconfig.json there (see ../README.md).
      cwd: import.meta.dirname,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  workers.push(child)
  await new Promise<void>((resolve) =>
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve()
    }),
  )
}

const images = Array.from({ length: 30 }, (_, index) => ({
  input: { image: `photo-${index}.jpg`, tenant: `tenant-${index % 3}` },
  options: { idempotencyKey: `resize-photo-${index}-${Date.now()}` },
}))
const runs = await durably.jobs.resizeImage.batchTrigger(images)
const again = await durably.jobs.resizeImage.trigger(images[0]!.input, images[0]!.options)
console.log(
  `triggered ${runs.length} runs; repeating the first trigger returned ${again.id === runs[0]!.id ? 'the same run' : 'a new run (unexpected)'}`,
)

const byWorker = new Map<number, number>()
for (const run of runs) {
  const finished = await waitFor(run.id)
  byWorker.set(finished.worker, (byWorker.get(finished.worker) ?? 0) + 1)
}
console.log(`runs completed per worker process: ${JSON.stringify(Object.fromEntries(byWorker))}`)

for (const child of workers) child.kill('SIGTERM')
await Promise.all(workers.map((child) => new Promise((resolve) => child.once('exit', resolve))))
await durably.destroy()

// The runs finish in other processes, whose events this process does not see: read the rows.
async function waitFor(runId: string) {
  for (;;) {
    const run = await durably.jobs.resizeImage.getRun(runId)
    if (run?.status === 'completed' && run.output) return run.output
    if (run?.status === 'failed') throw new Error(`run ${runId} failed: ${run.error}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
