/**
 * A worker process for the demo: opens the libSQL file, runs the worker, and reports
 * progress on stdout until the run completes (or until it is killed).
 */
import { createClient } from '@libsql/client'
import { LibsqlDialect } from '@libsql/kysely-libsql'
import { createDurably } from 'durably'
import { importCatalog } from './job.js'

const file = process.argv[2]
if (!file) throw new Error('usage: worker.ts <database file>')

const durably = createDurably({
  dialect: new LibsqlDialect({ client: createClient({ url: `file:${file}` }) }),
  pollingInterval: 100,
  heartbeatInterval: 500,
  // Short so the demo's restart reclaims the killed worker's run quickly.
  staleThreshold: 2000,
})
const { catalog } = durably.register({ catalog: importCatalog })

durably.on('run:start', (event) => console.log(`  [pid ${process.pid}] claimed run ${event.runId}`))
durably.on('run:progress', ({ progress }) =>
  console.log(
    `  [pid ${process.pid}] progress ${progress.current}/${progress.total} ${'█'.repeat(progress.current)}${'░'.repeat((progress.total ?? 0) - progress.current)}`,
  ),
)
durably.on('run:complete', async (event) => {
  console.log(`  [pid ${process.pid}] run completed: ${JSON.stringify(event.output)}`)
  await durably.stop()
  process.exit(0)
})

await durably.init()
const [existing] = await catalog.getRuns({ limit: 1 })
if (!existing) {
  const run = await catalog.trigger({ catalog: 'spring-2026' })
  console.log(`  [pid ${process.pid}] triggered run ${run.id}`)
}
