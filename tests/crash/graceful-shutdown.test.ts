/** SIGTERM to the graceful-shutdown example leaves no run running and no lease held. */

import { spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createClient } from '@libsql/client'
import { LibsqlDialect } from '@libsql/kysely-libsql'
import { afterEach, describe, expect, it } from 'vitest'
import { nightlyReport } from '../../examples/graceful-shutdown/job.js'
import { createDurably } from '../../src/index.js'
import { tempDir } from '../support/backends.js'
import { waitUntil } from '../support/wait.js'

const WORKER = join(import.meta.dirname, '../../examples/graceful-shutdown/worker.ts')

function startWorker(file: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, file], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const lines: string[] = []
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line))
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  return { child, lines, exited }
}

describe('graceful shutdown example', () => {
  const cleanups: (() => Promise<void> | void)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  it('SIGTERM mid-run hands the run back; a restart finishes it without redoing steps', async () => {
    const dir = tempDir('graceful')
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'graceful.db')
    const durably = createDurably({
      dialect: new LibsqlDialect({ client: createClient({ url: `file:${file}` }) }),
    }).register({ nightlyReport })
    cleanups.push(() => durably.destroy())
    const run = await durably.jobs.nightlyReport.trigger({ day: '2026-11-24' })

    const first = startWorker(file)
    cleanups.push(() => void first.child.kill('SIGKILL'))
    await waitUntil(() => first.lines.some((line) => line.includes(': stock')), {
      what: 'the second step to start',
    })
    first.child.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    expect(first.lines).toContain('stopped cleanly')

    const handedBack = await durably.getRun(run.id)
    expect(handedBack?.status).toBe('pending')
    const lease = await durably.db
      .selectFrom('durably_runs')
      .select(['lease_owner'])
      .where('id', '=', run.id)
      .executeTakeFirstOrThrow()
    expect(lease.lease_owner).toBeNull()
    const finishedBefore = (await durably.getSteps(run.id)).map((step) => step.name)
    expect(finishedBefore).toContain('stock')

    const second = startWorker(file)
    cleanups.push(() => void second.child.kill('SIGKILL'))
    await waitUntil(async () => (await durably.getRun(run.id))?.status === 'completed', {
      timeout: 20_000,
      what: 'the restarted worker to finish the run',
    })
    for (const part of finishedBefore) {
      expect(second.lines.some((line) => line.endsWith(`: ${part}`))).toBe(false)
    }
    second.child.kill('SIGTERM')
    expect(await second.exited).toBe(0)
  }, 60_000)
})
