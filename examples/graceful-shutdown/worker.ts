/**
 * A worker that shuts down cleanly on SIGTERM (what Kubernetes, systemd and Docker send
 * before SIGKILL): `stop()` lets the step in flight finish and hands its run back to the
 * queue at once, so no run is left `running` and no lease waits out the stale threshold.
 * Ctrl-C (SIGINT) does the same. See README.md for a session with `trigger.ts`.
 *
 *   npx tsx worker.ts [database file]
 */
import { createClient } from '@libsql/client'
import { LibsqlDialect } from '@libsql/kysely-libsql'
import { createDurably } from 'durably'
import { nightlyReport } from './job.js'

const file = process.argv[2] ?? 'graceful.db'
const durably = createDurably({
  dialect: new LibsqlDialect({ client: createClient({ url: `file:${file}` }) }),
}).register({ nightlyReport })

async function shutdown(signal: NodeJS.Signals) {
  console.log(`${signal}: finishing the step in flight, handing the run back`)
  await durably.stop()
  await durably.destroy()
  console.log('stopped cleanly')
  process.exit(0)
}
process.once('SIGTERM', shutdown)
process.once('SIGINT', shutdown)

await durably.init()
console.log('ready')
