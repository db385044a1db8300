/**
 * Disk full: a libSQL database on a tmpfs of its own, a worker busy on it, and the disk filled
 * up by another file while runs are in flight: a real ENOSPC on a real filesystem, which
 * SQLite reports as SQLITE_FULL when a write needs a page the filesystem cannot give (the WAL
 * growing; a checkpoint growing the database file). What holds:
 * - a trigger during the fault rejects with `DatabaseError` (SQLITE_FULL), it does not hang.
 *   Not at once: after a checkpoint the WAL starts over in the pages it already has, so
 *   writes go on succeeding until those are used up, and the runs triggered meanwhile are kept;
 * - the worker reports `worker:error`, backs off and goes on trying: it neither crashes nor
 *   stops;
 * - every step committed before the fault still reads the same, and the file stays sound;
 * - once the filler is removed, every run completes promptly (the worker's own in-flight runs
 *   are handed back, not left to a lease that expires), each step's output intact.
 *
 * The tmpfs is 16 MB, not 2: SQLite checkpoints its WAL only once it holds 1000 pages (4 MB).
 * On a 2 MB tmpfs the WAL alone filled the disk again within half a second of the filler's
 * removal (runs completing into it), and with no room for the database file to grow, no
 * checkpoint could ever empty it: SQLITE_FULL for good, until more space is freed than the WAL
 * took. That is SQLite's, on a disk smaller than its WAL; durably loses nothing there either.
 * Mounting needs root (CAP_SYS_ADMIN); where it is refused the test is skipped, saying why.
 */
import { execFileSync } from 'node:child_process'
import {
  closeSync,
  mkdtempSync,
  openSync,
  rmSync,
  statfsSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '@libsql/client'
import { LibsqlDialect } from '@libsql/kysely-libsql'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  createDurably,
  DatabaseError,
  type Durably,
  type DurablyEventMap,
  defineJob,
} from '../../src/index.js'
import { waitUntil } from '../support/wait.js'

const SIZE = '16m'
const TMPFS_MAGIC = 0x01021994
const RUNS = 40
const STEPS = ['one', 'two', 'three'] as const
/** Each step's output: about 1 KB, so a run in flight needs fresh pages soon. */
const outputOf = (n: number, step: string) => `${n}:${step}:`.padEnd(1024, String(n % 10))

const diskJob = defineJob({
  name: 'disk',
  input: z.object({ n: z.number() }),
  run: async (step, { n }) => {
    for (const name of STEPS) {
      await step.run(name, async () => {
        await new Promise((resolve) => setTimeout(resolve, 10))
        return outputOf(n, name)
      })
    }
    return { n }
  },
})

/** Mount a tmpfs at `dir`; why not, if it cannot be done here. */
function mountTmpfs(dir: string): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${SIZE}`, 'tmpfs', dir], { stdio: 'pipe' })
    return undefined
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim()
    return stderr || String(error)
  }
}

function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'pipe' })
  } catch {
    // Still busy (a handle not yet closed): detach it now, gone once the handle closes.
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' })
  }
}

/** Write to `file` until the filesystem refuses: ENOSPC, in ever smaller pieces to the last byte. */
function fillDisk(file: string): number {
  const fd = openSync(file, 'w')
  let written = 0
  try {
    for (const size of [65_536, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size, 0x5a)
      for (;;) {
        try {
          written += writeSync(fd, chunk)
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error
          break
        }
      }
    }
  } finally {
    closeSync(fd)
  }
  return written
}

describe('a full disk under a libSQL database', () => {
  let dir = ''
  /** Why no tmpfs could be mounted, if none could. */
  let refused: string | undefined
  let durably: Durably | undefined

  // Mounted here, not at collection, so a run that skips this file never mounts anything.
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'durably-disk-full-'))
    refused = mountTmpfs(dir)
    if (!refused) expect(statfsSync(dir).type, 'a tmpfs is mounted').toBe(TMPFS_MAGIC)
  })
  afterAll(async () => {
    try {
      await durably?.destroy()
    } finally {
      if (!refused) unmount(dir)
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('triggers reject with DatabaseError, the worker carries on, and once space is freed every run completes intact', async ({
    skip,
  }) => {
    if (refused) {
      console.warn(`[disk-full] skipping: cannot mount a tmpfs here (${refused})`)
      skip()
    }
    const filler = join(dir, 'filler')
    const file = join(dir, 'disk.db')
    const client = createClient({ url: `file:${file}` })
    const instance = createDurably({
      dialect: new LibsqlDialect({ client }),
      pollingInterval: 20,
      heartbeatInterval: 200,
      // The fault outlasts no lease: this one worker keeps its runs throughout.
      staleThreshold: 60_000,
    }).register({ disk: diskJob })
    durably = instance
    const errors: DurablyEventMap['worker:error'][] = []
    instance.on('worker:error', (event) => errors.push(event))
    await instance.migrate()
    const inputs = Array.from({ length: RUNS }, (_, n) => ({ n }))
    await instance.jobs.disk.batchTrigger(inputs)
    instance.start()

    // Some runs committed before the fault; others are in flight when it comes.
    await waitUntil(
      async () => (await instance.getRuns({ status: 'completed', limit: RUNS })).length >= 10,
      { timeout: 20_000, interval: 20, what: 'ten runs to complete before the fault' },
    )
    // A checkpoint, from another connection, as a database in use has had (SQLite makes one
    // every 1000 pages of WAL): the WAL starts over, so writes reuse its pages for a while.
    const other = createClient({ url: `file:${file}` })
    await other.execute('PRAGMA wal_checkpoint(RESTART)')
    other.close()
    const committed = await instance.db
      .selectFrom('durably_steps')
      .select(['run_id', 'name', 'output'])
      .execute()

    const filled = fillDisk(filler)
    expect(statfsSync(dir).bavail, 'the disk is full').toBe(0)

    // A trigger fails with a clear, typed error rather than hanging. SQLite first writes into
    // the WAL pages it already has, so triggers succeed until those are used up: their runs
    // must complete later like the others.
    let rejection: unknown
    const accepted: number[] = []
    await waitUntil(
      async () => {
        const n = RUNS + accepted.length
        try {
          await instance.jobs.disk.trigger({ n })
          accepted.push(n)
          return false
        } catch (error) {
          rejection = error
          return true
        }
      },
      { timeout: 20_000, interval: 5, what: 'a trigger to be refused on the full disk' },
    )
    expect(rejection).toBeInstanceOf(DatabaseError)
    expect((rejection as DatabaseError).message).toMatch(/SQLITE_FULL/)

    // The worker reports the fault and keeps trying: errors keep coming, it has not stopped.
    const faultErrors = errors.length
    await waitUntil(() => errors.length >= faultErrors + 3, {
      timeout: 20_000,
      what: 'the worker to go on reporting the fault',
    })
    expect(errors.map((event) => event.error)).toContainEqual(expect.stringMatching(/SQLITE_FULL/))
    expect(instance.workerState).not.toBe('stopped')

    // Nothing committed is lost: every step recorded before the fault still reads the same.
    const after = await instance.db
      .selectFrom('durably_steps')
      .select(['run_id', 'name', 'output'])
      .execute()
    expect(after).toEqual(expect.arrayContaining(committed))

    // Space again: every run completes, its outputs intact; promptly, the worker's own runs
    // included (handed back, not left to a lease that expires in a minute).
    unlinkSync(filler)
    const total = RUNS + accepted.length
    await waitUntil(
      async () => (await instance.getRuns({ status: 'completed', limit: total })).length === total,
      { timeout: 20_000, interval: 50, what: `all ${total} runs to complete once space was freed` },
    )
    const runs = await instance.getRuns({ limit: total + 1 })
    expect(runs).toHaveLength(total)
    for (const run of runs) {
      const { n } = run.payload as { n: number }
      expect(run.output).toEqual({ n })
      const steps = await instance.getSteps(run.id)
      expect(steps.map((step) => [step.name, step.output])).toEqual(
        STEPS.map((name) => [name, outputOf(n, name)]),
      )
    }
    expect(['idle', 'polling']).toContain(instance.workerState)
    const [check] = (await client.execute('PRAGMA integrity_check')).rows
    expect(Object.values(check ?? {})).toEqual(['ok'])
    console.log(
      `[disk-full] ${SIZE} tmpfs: filled with ${filled} bytes once ${committed.length} steps were committed; ` +
        `${accepted.length} triggers accepted on the full disk, then "${(rejection as Error).message}"; ` +
        `${errors.length} worker:error events (${[...new Set(errors.map((e) => e.context))].join(', ')}): ${errors[0]?.error}; ` +
        `all ${total} runs completed once the filler was removed`,
    )
  }, 120_000)
})
