/**
 * Flow control over HTTP, on a real loopback socket: `POST /trigger` takes `priority` and
 * leaves its checking to `trigger` (one set of rules for both doors), and `GET /run` says
 * why a pending run is not running (`blockedBy`).
 */
import { sql } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import { startServer, type TestServer } from './server.js'

describe('flow control over HTTP', () => {
  let server: TestServer | undefined
  afterEach(() => server?.close())

  const post = (path: string, body: unknown) =>
    fetch(`${server!.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })

  const storedPriority = async (runId: string) => {
    const { rows } = await sql<{ priority: number | null }>`
      SELECT priority FROM durably_runs WHERE id = ${runId}`.execute(server!.durably.db)
    return rows[0]?.priority ?? null
  }

  it('POST /trigger passes priority to the run, and refuses a bad one with 400, storing nothing', async () => {
    server = await startServer()
    const response = await post('/trigger', {
      jobName: 'echo',
      input: { value: 'urgent' },
      priority: 60,
    })
    expect(response.status).toBe(200)
    const { runId } = (await response.json()) as { runId: string }
    expect(Number(await storedPriority(runId))).toBe(60)

    for (const priority of [1.5, 601, -601, '5', null, true]) {
      const refused = await post('/trigger', { jobName: 'echo', input: { value: 'x' }, priority })
      expect(refused.status, `priority ${JSON.stringify(priority)}`).toBe(400)
      expect(((await refused.json()) as { error: string }).error).toMatch(/priority must be/)
    }
    expect(await server.durably.getRuns({ jobName: 'echo' })).toHaveLength(1)
  })

  it('GET /run says no-worker for a pending run whose job no worker runs', async () => {
    // lazy, and no onRequest: nothing starts this instance's worker, so nobody runs "echo".
    server = await startServer({ lazy: true })
    const response = await post('/trigger', { jobName: 'echo', input: { value: 'alone' } })
    const { runId } = (await response.json()) as { runId: string }
    const run = (await (await fetch(`${server.url}/run?runId=${runId}`)).json()) as {
      status: string
      blockedBy: unknown
    }
    expect(run.status).toBe('pending')
    expect(run.blockedBy).toEqual({ reason: 'no-worker', jobName: 'echo', lastSeenAt: null })
  })
})
