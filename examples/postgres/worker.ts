/** A worker process: executes runs until SIGTERM, then hands its in-flight runs back. */
import { openDurably } from './durably.js'

const { durably } = openDurably()
durably.on('run:complete', (event) =>
  console.log(`[worker ${process.pid}] completed ${event.runId}`),
)
await durably.init()
console.log(`[worker ${process.pid}] ready`)

process.once('SIGTERM', async () => {
  // destroy() also ends the pool: Kysely owns it through the dialect.
  await durably.destroy()

  process.exit(0)
})
