import { LibsqlDialect } from '@libsql/kysely-libsql'
import { createDurably, defineJob } from 'durably'
import { z } from 'zod'

const durably = createDurably({
  dialect: new LibsqlDialect({ url: 'file:local.db' }), // a SQLite file, created if missing
})

const syncUsersJob = defineJob({
  name: 'sync-users',
  input: z.object({ orgId: z.string() }),
  output: z.object({ syncedCount: z.number() }),
  run: async (step, { orgId }) => {
    // Each step's result is stored: after a crash the run resumes here and replays
    // the finished steps from the database instead of running them again.
    const users = await step.run('fetch-users', async () => {
      await new Promise((resolve) => setTimeout(resolve, 100)) // stands in for an API call
      return [`${orgId}/ada`, `${orgId}/lin`]
    })
    await step.run('save-users', () => {
      step.log.info(`saving ${users.length} users`) // stands in for a database write
    })
    return { syncedCount: users.length }
  },
})

const { syncUsers } = durably.register({ syncUsers: syncUsersJob })
await durably.init() // create the tables, start the worker

const run = await syncUsers.trigger({ orgId: 'org_123' }) // stored; the worker picks it up
console.log('triggered', run.status) // triggered pending

const { output } = await syncUsers.triggerAndWait({ orgId: 'org_456' }, { timeout: 5000 })
console.log('synced', output) // synced { syncedCount: 2 }

await durably.destroy() // stop the worker, close the database: the process can exit
