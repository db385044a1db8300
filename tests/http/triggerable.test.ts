/**
 * `triggerableJobs` as the README writes it: the job is named `sync-users` and registered
 * under the key `syncUsers`, and the option lists the key.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createDurably, createDurablyHandler, defineJob } from '../../src/index.js'
import { FAST } from '../contract/harness.js'
import { libsqlBackend } from '../support/backends.js'
import { BASE_PATH, listen } from './server.js'

const syncUsersJob = defineJob({
  name: 'sync-users',
  input: z.object({ orgId: z.string() }),
  run: async () => null,
})
const reportJob = defineJob({ name: 'nightly-report', input: z.object({}), run: async () => null })
const otherJob = defineJob({ name: 'other', input: z.object({}), run: async () => null })

describe('triggerableJobs', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  async function serveReadmeShape(triggerableJobs: readonly string[]) {
    const database = await libsqlBackend.create()
    cleanups.push(() => database.cleanup())
    const durably = createDurably({ ...FAST, dialect: database.dialect })
    durably.register({ syncUsers: syncUsersJob, other: otherJob })
    await durably.init()
    cleanups.push(() => durably.destroy())
    const handler = createDurablyHandler(durably, { triggerableJobs })
    const listening = await listen((request) => handler.handle(request, BASE_PATH))
    cleanups.push(() => listening.close())
    const trigger = async (jobName: string) =>
      (
        await fetch(`${listening.origin}${BASE_PATH}/trigger`, {
          method: 'POST',
          body: JSON.stringify({ jobName, input: jobName === 'sync-users' ? { orgId: 'o' } : {} }),
        })
      ).status
    return { durably, trigger }
  }

  it("accepts the register key for the job's name, and refuses the others", async () => {
    const { trigger } = await serveReadmeShape(['syncUsers'])
    expect(await trigger('sync-users')).toBe(200)
    expect(await trigger('other')).toBe(403)
  })

  it('accepts the job name too', async () => {
    const { trigger } = await serveReadmeShape(['sync-users'])
    expect(await trigger('sync-users')).toBe(200)
    expect(await trigger('other')).toBe(403)
  })

  it('matches a key registered after the handler was created; an unknown entry matches nothing', async () => {
    const { durably, trigger } = await serveReadmeShape(['nightlyReport', 'neverRegistered'])
    // Not registered yet: no key names it, so it is refused like any unlisted job.
    expect(await trigger('nightly-report')).toBe(403)
    durably.register({ nightlyReport: reportJob })
    expect(await trigger('nightly-report')).toBe(200)
    // The entry that names nothing lets no other job through, and is no error in itself.
    expect(await trigger('other')).toBe(403)
    expect(await trigger('neverRegistered')).toBe(404)
  })
})
