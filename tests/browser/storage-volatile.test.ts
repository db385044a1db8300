/**
 * A browser database that will not outlive the page is said, as a `storage:volatile` event and
 * one `console.warn`, once per instance; one in OPFS says nothing. This page is cross-origin
 * isolated (vitest.config.ts), so OPFS works here and memory has to be forced: by the path
 * `:memory:`, and by SQLocal's own fallback, met for real by running its OPFS driver on the
 * page's main thread, where OPFS's synchronous file handles do not exist (as on a page served
 * without the isolation headers, SQLocal then logs its own line and goes on in memory).
 */
import { SQLiteOpfsDriver, SQLocalProcessor } from 'sqlocal'
import { SQLocalKysely } from 'sqlocal/kysely'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { z } from 'zod'
import { createDurably, type DurablyEvent, defineJob } from '../../src/index.js'

const job = defineJob({
  name: 'note',
  input: z.object({ text: z.string() }),
  run: async (step, { text }) => step.run('keep', () => text),
})

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

/** An instance on `client`, its `storage:volatile` events and durably's console warnings. */
function watched(client: SQLocalKysely) {
  // Silenced, and read: durably's line is asserted, SQLocal's own lines are its business.
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
  const durably = createDurably({ dialect: client.dialect, pollingInterval: 50 }).register({ job })
  const events: DurablyEvent[] = []
  durably.on('storage:volatile', (event) => events.push(event))
  cleanups.push(() => durably.destroy())
  const durablyWarnings = () =>
    warn.mock.calls.map((args) => String(args[0])).filter((text) => text.startsWith('[durably]'))
  return { durably, events, durablyWarnings }
}

describe('storage:volatile', () => {
  it('says nothing for a database in OPFS', async () => {
    // One client, asked by durably and by the test alike: a second client on the same OPFS
    // file would contend for its lock with durably's migration.
    const client = new SQLocalKysely(`durably-volatile-opfs-${Date.now().toString(36)}.sqlite3`)
    const { durably, events, durablyWarnings } = watched(client)
    await durably.init()
    expect((await client.getDatabaseInfo()).storageType).toBe('opfs')
    // `init()` resolves after the check: by now a warning would have been given.
    await durably.getRuns()
    expect(events).toEqual([])
    expect(durablyWarnings()).toEqual([])
    // The file goes while the client lives (`destroy()` in afterEach closes it); a name
    // is never reused, so a deletion that does not finish in time leaves nothing in the way.
    await durably.stop()
    await Promise.race([
      client.deleteDatabaseFile(),
      new Promise((resolve) => setTimeout(resolve, 5000)),
    ])
  })

  it('warns once, event and console, for a database in memory, and durably still runs', async () => {
    const { durably, events, durablyWarnings } = watched(new SQLocalKysely(':memory:'))
    await durably.init()
    await durably.getRuns() // a second `ready()`: no second warning
    expect(events).toMatchObject([
      { type: 'storage:volatile', storageType: 'memory', databasePath: ':memory:' },
    ])
    expect(durablyWarnings()).toHaveLength(1)
    expect(durablyWarnings()[0]).toContain('in memory, so every run is lost')
    expect(durablyWarnings()[0]).toContain('Cross-Origin-Opener-Policy: same-origin')
    expect(durablyWarnings()[0]).toContain('Cross-Origin-Embedder-Policy: require-corp')
    const { output } = await durably.job.triggerAndWait(
      { text: 'kept for now' },
      { timeout: 20_000 },
    )
    expect(output).toBe('kept for now')
  })

  it('warns when SQLocal falls back from OPFS to memory', async () => {
    const file = `durably-volatile-fallback-${Date.now().toString(36)}.sqlite3`
    const client = new SQLocalKysely({
      databasePath: file,
      processor: new SQLocalProcessor(new SQLiteOpfsDriver()),
    })
    const { durably, events, durablyWarnings } = watched(client)
    await durably.init()
    expect(events).toMatchObject([
      { type: 'storage:volatile', storageType: 'memory', databasePath: ':memory:' },
    ])
    expect(durablyWarnings()).toHaveLength(1)
  })
})
