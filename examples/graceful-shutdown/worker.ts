/**
 * A worker that shuts down cleanly on SIGTERM (what Kubernetes, systemd and Docker send
 * before SIGKILL): `stop()` lets the step in flight finish and hands its run back to the
 * queue at once, so no run is left `running` and no lease waits out the stale threshold.
 *
 *   npx tsx examples/graceful-shutdown/worker.ts [database file]
 */
import { createClient } from '@libsql/client'
import { LibsqlDialect } from '@libsql/kysely-libsql'
import { createDurably } from '../../src/index.js'
import { nightlyReport } from './job.js'

const file = process.argv[2] ?? '.tmp/graceful.db'
const durably = createDurably({
  dialect: new LibsqlDialect({ client: createClient({ url: `file:${file}` }) }),
}).register({ nightlyReport })

process.once('SIGTERM', async () => {
  console.log('SIGTERM: finishing the step in flight, handing the run back')
  await durably.stop()
  await durably.destroy()
  console.log('stopped cleanly')
  process.exit(0)
})

await durably.init()
console.log('ready')
