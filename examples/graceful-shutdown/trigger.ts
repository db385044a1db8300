/**
 * Stores `nightly-report` runs for three days on the worker's database file and exits; a
 * worker (`worker.ts`) on the same file picks them up, at once or at its next poll.
 *
 *   npx tsx trigger.ts [database file]
 */
import { LibsqlDialect } from '@libsql/kysely-libsql'
import { createDurably } from 'durably'
import { nightlyReport } from './job.js'

const file = process.argv[2] ?? 'graceful.db'
const durably = createDurably({ dialect: new LibsqlDialect({ url: `file:${file}` }) }).register({
  nightlyReport,
})

await durably.migrate()
for (const day of ['2026-11-22', '2026-11-23', '2026-11-24']) {
  const run = await durably.jobs.nightlyReport.trigger({ day })
  console.log(`triggered run ${run.id} (${day}) on ${file}`)
}
await durably.destroy()
